#!/bin/bash
test_description='check reports damage with its offset; repair cuts only a torn tail, never the middle'
. "$(dirname "$0")/test-lib.sh"

seg="$LOGCAST_DATA_DIR/channels/c/00000000000000000001.seg"

test_expect_success 'a healthy channel' '
	seq 20 | sed "s/.*/{\"n\":&}/" | logcast append --lines c >/dev/null &&
	logcast check c >out &&
	grep "c: ok, 20 messages" out
'

test_expect_success 'a torn tail is reported with its offset; --repair truncates it' '
	size=$(stat -c %s "$seg") &&
	printf "\000\000\000\000LCR1garbage" >>"$seg" &&
	test_expect_code 1 logcast check c >out &&
	grep "offset $size: torn tail of 15 bytes" out &&
	logcast check --repair c >out &&
	grep "repaired" out &&
	test "$(stat -c %s "$seg")" = "$size" &&
	logcast check c >out &&
	grep "c: ok, 20 messages" out
'

test_expect_success 'a flipped byte in the middle is corruption: reported, never repaired' '
	cp "$seg" good &&
	off=$(grep -obUa "{\"n\":10}" "$seg" | head -n 1 | cut -d: -f1) &&
	printf "X" | dd of="$seg" bs=1 seek=$((off + 2)) conv=notrunc 2>/dev/null &&
	test_expect_code 1 logcast check c >out &&
	grep "CORRUPT: c/00000000000000000001.seg offset [0-9]*: checksum mismatch (valid records follow)" out &&
	test_expect_code 1 logcast check --repair c >out2 &&
	grep CORRUPT out2 &&
	cmp "$seg" good >/dev/null; test $? = 1 &&
	test "$(stat -c %s "$seg")" = "$(stat -c %s good)"
'

test_expect_success 'reads over the damage fail loudly instead of skipping it' '
	test_must_fail logcast read c >out 2>err &&
	grep "damaged" err &&
	logcast read --since 10 c >after &&
	test_line_count = 10 after
'

test_expect_success 'a wrong index entry is reported with its offset' '
	cp good "$seg" &&
	printf "\001" | dd of="$seg" bs=1 seek=$((64 + 8 * 5)) conv=notrunc 2>/dev/null &&
	test_expect_code 1 logcast check c >out &&
	grep "offset 104: index entry for message 6 is wrong" out
'

test_expect_success 'a missing segment in the middle is reported' '
	cp good "$seg" &&
	export LOGCAST_SEGMENT_RECORDS=4 &&
	seq 20 | logcast append --lines gap >/dev/null &&
	rm "$LOGCAST_DATA_DIR/channels/gap/00000000000000000009.seg" &&
	test_expect_code 1 logcast check gap >out &&
	grep "segment 9 is missing" out
'

test_done
