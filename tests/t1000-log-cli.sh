#!/bin/bash
test_description='the logcast command: append, read, tail, stats, channels, check'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'append prints the envelope with id 1' '
	logcast append chat "{\"text\": \"hello\", \"n\": 0.1}" >out &&
	grep "^{\"id\":1,\"channel\":\"chat\",\"time\":\"[0-9T:.-]*Z\",\"data\":{\"text\":\"hello\",\"n\":0.1}}$" out
'

test_expect_success 'append reads JSON from stdin, keeps big numbers' '
	echo "[12345678901234567890, 1e400]" | logcast append chat >out &&
	grep "\"id\":2,.*\"data\":\[12345678901234567890,1e400\]}$" out
'

test_expect_success 'read prints envelopes since an id' '
	logcast read chat >all &&
	test_line_count = 2 all &&
	logcast read --since 1 chat >one &&
	test_line_count = 1 one &&
	grep "\"id\":2," one
'

test_expect_success 'read of an unknown channel is empty, not an error' '
	logcast read nosuch >out &&
	test_line_count = 0 out &&
	test_path_is_missing "$LOGCAST_DATA_DIR/channels/nosuch"
'

test_expect_success 'invalid JSON and invalid UTF-8 are refused' '
	test_must_fail logcast append chat "{oops" 2>err &&
	grep "invalid JSON at byte 1" err &&
	printf "\"\\377\"" >bad &&
	test_must_fail logcast append chat <bad 2>err &&
	grep "invalid UTF-8" err &&
	logcast read chat >all &&
	test_line_count = 2 all
'

test_expect_success 'invalid channel names are refused' '
	for name in ../x .. a/b .x "" "$(printf "a%.0s" $(seq 65))" "caf$(printf "\303\251")"
	do
		test_must_fail logcast append "$name" 1 2>err &&
		grep "invalid channel name" err || return 1
	done &&
	test_path_is_missing "$LOGCAST_DATA_DIR/x" &&
	logcast channels >list &&
	echo chat >expect &&
	test_cmp expect list
'

test_expect_success 'bad numbers in options are refused' '
	test_expect_code 2 logcast read --since -1 chat &&
	test_expect_code 2 logcast read --since abc chat &&
	test_expect_code 2 logcast read --since 99999999999999999999 chat
'

test_expect_success 'idempotency key: a repeat stores nothing' '
	logcast append --key order-7 chat "{\"o\":7}" >first &&
	logcast append --key order-7 chat "{\"o\":8}" >second &&
	test_cmp first second &&
	logcast read chat >all &&
	test_line_count = 3 all
'

test_expect_success 'append --lines prints one id per stored line' '
	printf "1\n2\n\n3\n" | logcast append --lines bulk >ids &&
	printf "1\n2\n3\n" >expect &&
	test_cmp expect ids
'

test_expect_success 'stats shows the range' '
	logcast stats chat >st &&
	grep "^chat first=1 last=3 " st
'

test_expect_success 'check passes on a healthy log' '
	logcast check >out &&
	grep "chat: ok, 3 messages" out &&
	grep "bulk: ok, 3 messages" out
'

test_expect_success 'tail -f follows new messages' '
	logcast tail -f chat >tailed 2>&1 &
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	sleep 0.2 &&
	logcast append chat "\"live\"" >/dev/null &&
	test_wait_until 5 "grep -q live tailed" &&
	test_line_count = 1 tailed
'

test_done
