#!/bin/bash
test_description='writers killed with SIGKILL at random points lose nothing acknowledged'
. "$(dirname "$0")/test-lib.sh"

ROUNDS=${LOGCAST_TEST_CRASH_ROUNDS:-200}
# every record goes out in two writes with a pause between, so that
# kills also land inside a record and leave torn tails behind
export LOGCAST_TEST_SPLIT_WRITES=1
export LOGCAST_RETAIN=10000000   # keep everything: this test checks all of it

test_expect_success "kill a writer $ROUNDS times at random points" '
	torn=0 inter=0 clean=0 &&
	for i in $(seq $ROUNDS)
	do
		seq 100000 | awk -v i=$i "{ printf \"{\\\"i\\\":%d,\\\"n\\\":%d}\\n\", i, \$1 }" |
			logcast append --lines crash >acked.$i 2>err.$i &
		pid=$! &&
		# kill at a random point once it appends (a sanitized build on
		# a busy machine may take longer than that to start)
		test_wait_until 20 "test -s acked.$i" &&
		sleep "0.0$((RANDOM % 60))" &&
		kill -9 $pid &&
		{ wait $pid 2>/dev/null; true; } &&
		{ logcast check crash >check.$i 2>&1; rc=$?; true; } &&
		if grep -q CORRUPT check.$i
		then
			cat check.$i; return 1
		elif grep -q "torn tail" check.$i
		then
			torn=$((torn + 1))
		elif grep -q "interrupted append\|not yet synced" check.$i
		then
			inter=$((inter + 1))
		elif test $rc = 0
		then
			clean=$((clean + 1))
		fi || return 1
	done &&
	test_measured "$ROUNDS kills: check found $torn torn tails, $inter interrupted appends, $clean clean logs, no corruption" &&
	test $((torn + inter + clean)) = $ROUNDS &&
	test $torn -gt 0
'

test_expect_success 'the log opens and check --repair touches only the tail' '
	logcast check --repair crash >repair &&
	! grep CORRUPT repair &&
	logcast check crash >out &&
	grep "crash: ok" out
'

test_expect_success 'ids have no gaps and no duplicates' '
	logcast read crash >all &&
	sed -e "s/^{\"id\":\([0-9]*\),.*/\1/" all >ids &&
	seq $(wc -l <all) >expect &&
	test_cmp expect ids
'

test_expect_success 'every append that returned success is there, as sent' '
	for i in $(seq $ROUNDS)
	do
		awk -v i=$i "{ printf \"%s {\\\"i\\\":%d,\\\"n\\\":%d}\\n\", \$1, i, NR }" acked.$i || return 1
	done >pairs &&
	test_measured "$(wc -l <pairs) acknowledged appends verified after $ROUNDS kills" &&
	awk -f "$TEST_DIRECTORY/lib-pairs.awk" all pairs
'

test_expect_success 'appending goes on after the last crash' '
	logcast append crash "\"after\"" >out &&
	grep "\"id\":$(( $(wc -l <all) + 1 ))," out
'

test_done
