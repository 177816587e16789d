#!/bin/bash
test_description='many writer processes and concurrent readers on one channel'
. "$(dirname "$0")/test-lib.sh"

W=8
export LOGCAST_RETAIN=1000000   # this test checks every message
N=2000

# ids of envelopes, one per line, from "logcast read" output
ids_of() { sed -e 's/^{"id":\([0-9]*\),.*/\1/' "$1"; }

test_expect_success 'a reader follows the channel while it is written' '
	logcast tail -f --since 0 conc >reader.out 2>reader.err &
	echo $! >reader.pid &&
	test_atexit "kill \$(cat \"$TRASH_DIRECTORY/reader.pid\") 2>/dev/null" &&
	sleep 0.2
'

test_expect_success "$W processes x $N appends at once" '
	t0=$(now_ms) &&
	for w in $(seq $W)
	do
		seq $N | awk -v w=$w "{ printf \"{\\\"w\\\":%d,\\\"n\\\":%d,\\\"pad\\\":\\\"%0200d\\\"}\\n\", w, \$1, 0 }" >in.$w &&
		(logcast append --lines conc <in.$w >ids.$w 2>err.$w; echo $? >rc.$w) &
	done &&
	wait_writers() { for w in $(seq $W); do test -f rc.$w || return 1; done; } &&
	test_wait_until 300 wait_writers &&
	test_measured "$((W * N)) appends by $W processes (fsync=batch): $(( $(now_ms) - t0 )) ms" &&
	for w in $(seq $W); do test "$(cat rc.$w)" = 0 || { cat err.$w; return 1; }; done
'

test_expect_success 'ids are exactly 1..16000, in order, no gap, no duplicate' '
	logcast read conc >all &&
	ids_of all >ids &&
	seq $((W * N)) >expect &&
	test_cmp expect ids
'

test_expect_success 'every payload is present exactly once' '
	sed -e "s/.*\"data\"://" -e "s/}$//" all | sort >got &&
	cat in.* | sort >want &&
	test_cmp want got
'

test_expect_success 'each writer saw its own ids increase and all ids were acknowledged' '
	for w in $(seq $W)
	do
		sort -n ids.$w | test_cmp ids.$w - || return 1
	done &&
	cat ids.* | sort -n >acked &&
	test_cmp expect acked
'

test_expect_success 'each acknowledged id holds what its writer sent' '
	for w in $(seq $W)
	do
		paste -d" " ids.$w in.$w || return 1
	done >pairs &&
	awk -f "$TEST_DIRECTORY/lib-pairs.awk" all pairs
'

test_expect_success 'the concurrent reader saw the same sequence, never a torn record' '
	test_wait_until 30 "test \$(wc -l <reader.out) -ge $((W * N))" &&
	test_cmp all reader.out
'

test_expect_success 'check is clean' '
	logcast check conc >out &&
	grep "conc: ok, 16000 messages" out
'

test_done
