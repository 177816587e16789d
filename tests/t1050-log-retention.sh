#!/bin/bash
test_description='retention drops whole segments, keeps at least LOGCAST_RETAIN, and ids go on'
. "$(dirname "$0")/test-lib.sh"

export LOGCAST_SEGMENT_RECORDS=10 LOGCAST_RETAIN=25

field() {
	logcast stats "$1" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}

test_expect_success 'append 100 messages with 10 per segment and 25 retained' '
	seq 100 | logcast append --lines ret >/dev/null &&
	test "$(field ret last)" = 100
'

test_expect_success 'whole old segments are gone, at least 25 messages remain' '
	first=$(field ret first) &&
	test_measured "retained ids $first..100 in $(field ret segments) segments" &&
	test $((100 - first + 1)) -ge 25 &&
	test $((100 - first + 1)) -lt $((25 + 2 * 10)) &&
	test $(( (first - 1) % 10 )) = 0 &&
	ls "$LOGCAST_DATA_DIR/channels/ret" | grep "\.seg$" >segs &&
	test_line_count = "$(field ret segments)" segs &&
	head -n 1 segs | grep "^0*$first\.seg$"
'

test_expect_success 'read since 0 starts at the first retained id' '
	logcast read ret >all &&
	head -n 1 all | grep "^{\"id\":$first," &&
	test_line_count = $((100 - first + 1)) all
'

test_expect_success 'ids continue after retention and after a restart of the writer' '
	logcast append ret "\"next\"" >out &&
	grep "^{\"id\":101," out &&
	seq 30 | logcast append --lines ret >ids &&
	test "$(head -n 1 ids)" = 102 &&
	test "$(tail -n 1 ids)" = 131 &&
	test "$(field ret first)" -gt "$first"
'

test_expect_success 'check is clean after retention' '
	logcast check ret >out &&
	grep "ret: ok" out
'

test_expect_success 'LOGCAST_RETAIN_BYTES bounds the bytes too, never the last message' '
	LOGCAST_RETAIN=1 LOGCAST_RETAIN_BYTES=1 logcast append ret "\"small\"" >/dev/null &&
	seq 12 | LOGCAST_RETAIN=1 LOGCAST_RETAIN_BYTES=1 logcast append --lines ret >/dev/null &&
	test "$(field ret last)" = 144 &&
	test "$(field ret first)" -ge 131 &&
	logcast read ret >all &&
	tail -n 1 all | grep "^{\"id\":144,"
'

test_done
