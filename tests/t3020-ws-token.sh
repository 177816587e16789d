#!/bin/bash
test_description='WebSocket with LOGCAST_PUBLISH_TOKEN: publishing needs ?token=, subscribing does not, the token is never written anywhere'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-ws.sh"

# A token that cannot turn up by accident, and one differing in the last byte.
TOKEN="tok-$$-$(date +%s%N)-Zq9"
WRONG="${TOKEN%?}X"

test_expect_success LIGHTTPD,WEBSOCKETD 'start the stack with a publish token' '
	LOGCAST_PUBLISH_TOKEN=$TOKEN &&
	export LOGCAST_PUBLISH_TOKEN &&
	stack_start &&
	test_set_prereq STACK
'

# try_publish CHANNEL URL-SUFFIX: send one frame, print the frames.
try_publish() {
	local since
	since=$(last_id "$1") &&
	ws_client --expect 1 --send "{\"try\":1}" \
		"$WSBASE/ws/$1?since=$since$2" >frames &&
	logcast read --since "$since" "$1" >stored
}

test_expect_success STACK,WSCLIENT 'no token: an error frame and nothing stored' '
	try_publish locked "" &&
	test_grep "^{\"error\":\"missing or wrong token\"}$" frames &&
	test_line_count = 0 stored
'

test_expect_success STACK,WSCLIENT 'a wrong token: an error frame and nothing stored' '
	for t in "$WRONG" "${TOKEN}x" "${TOKEN%?}" "" "$(printf "%s" "$TOKEN" | tr a-z A-Z)"
	do
		try_publish locked "&token=$t" &&
		test_grep "^{\"error\":\"missing or wrong token\"}$" frames &&
		test_line_count = 0 stored || return 1
	done
'

test_expect_success STACK,WSCLIENT 'a malformed or huge token is just wrong' '
	try_publish locked "&token=%zz" &&
	test_grep "missing or wrong token" frames &&
	test_line_count = 0 stored &&
	try_publish locked "&token=$(printf "%02000d" 7)" &&
	test_grep "missing or wrong token" frames &&
	test_line_count = 0 stored
'

test_expect_success STACK,WSCLIENT 'the right token publishes, also percent-encoded' '
	try_publish locked "&token=$TOKEN" &&
	test_grep "^{\"id\":" frames &&
	test_line_count = 1 stored &&
	test_cmp stored frames &&
	enc=$(printf "%s" "$TOKEN" | od -An -tx1 | tr -d " \n" | sed "s/../%&/g") &&
	try_publish locked "&token=$enc" &&
	test_line_count = 1 stored &&
	test_cmp stored frames
'

test_expect_success STACK,WSCLIENT 'subscribing needs no token, and sees what others publish' '
	since=$(last_id locked) &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/locked?since=$since" >sub &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count" &&
	ws_client --expect 1 --send "\"with token\"" \
		"$WSBASE/ws/locked?token=$TOKEN&since=$since" >pub &&
	wait $pid &&
	test_cmp pub sub
'

test_expect_success STACK,WSCLIENT 'the CLI is not affected (operators publish locally)' '
	logcast append locked "\"cli\"" >/dev/null
'

test_expect_success STACK,WSCLIENT,HTTPAPI 'HTTP publish without the bearer token is refused too' '
	test_must_fail http_publish locked "\"no bearer\"" &&
	logcast read locked >all &&
	test_grep ! "no bearer" all
'

test_expect_success STACK,WSCLIENT 'many sessions later, the token is in no log and no data file' '
	for i in $(seq 20)
	do
		printf -- "--send\n\"%d\"\n" $i
	done | tr "\n" "\0" | xargs -0 node "$TEST_DIRECTORY/lib-wsclient.js" \
		--clients 10 --expect 20 --timeout-ms 20000 --out many \
		"$WSBASE/ws/locked?since=$(last_id locked)&token=$TOKEN" &&
	ws_client --clients 10 --expect 1 --timeout-ms 20000 --out /dev/null \
		--send "{bad" "$WSBASE/ws/locked?token=$WRONG" &&
	ws_wait_gone 10 &&
	stack_stop &&
	ls "$TRASH_DIRECTORY/log" >logs &&
	test_grep websocketd.log logs &&
	test_grep lighttpd-error.log logs &&
	! grep -r -l -a -F -e "$TOKEN" -e "$WRONG" "$TRASH_DIRECTORY/log" "$LOGCAST_DATA_DIR" \
		"$TRASH_DIRECTORY/run.log" >leaks &&
	test_line_count = 0 leaks
'

test_expect_success STACK,WSCLIENT 'nor when websocketd refuses a socket (429)' '
	LOGCAST_WS_MAXFORKS=1 &&
	export LOGCAST_WS_MAXFORKS &&
	stack_start &&
	ws_client_bg --hold --ready ready.$test_count --timeout-ms 30000 \
		"$WSBASE/ws/locked?token=$TOKEN" >/dev/null 2>&1 &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count && test \$(ws_child_count) = 1" &&
	test_expect_code 3 ws_client --expect 1 "$WSBASE/ws/locked?token=$TOKEN" 2>err &&
	test_grep "http 429" err &&
	kill $pid &&
	ws_wait_gone 10 &&
	stack_stop &&
	! grep -r -l -a -F -e "$TOKEN" "$TRASH_DIRECTORY/log" "$TRASH_DIRECTORY/run.log" >leaks &&
	test_line_count = 0 leaks
'

test_expect_success STACK 'the children logged nothing (no error, no sanitizer report)' '
	ws_check_log
'

test_done
