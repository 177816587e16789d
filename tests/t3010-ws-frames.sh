#!/bin/bash
test_description='WebSocket publish frames: invalid and oversized ones are refused, the socket stays up'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-ws.sh"

test_expect_success LIGHTTPD,WEBSOCKETD 'start the stack' '
	stack_start &&
	test_set_prereq STACK
'

# send_then_good CHANNEL EXPECTED-FRAMES CLIENT-ARGS...: send the frames
# given, then one good frame; every frame arrives, the good one is stored
# as the only new message.
send_then_good() {
	local ch=$1 n=$2 since
	shift 2
	since=$(last_id "$ch") &&
	ws_client --expect "$n" "$@" --send "{\"good\":true}" \
		"$WSBASE/ws/$ch?since=$since" >frames &&
	test_line_count = "$n" frames &&
	test "$(ws_check_frames frames)" = $((n - 1)) &&
	logcast read --since "$since" "$ch" >stored &&
	test_line_count = 1 stored &&
	test_grep "\"data\":{\"good\":true}}$" stored &&
	grep "^{\"id\"" frames >envelopes &&
	test_cmp stored envelopes
}

test_expect_success STACK,WSCLIENT 'bad JSON: an error frame, the socket stays up' '
	send_then_good bad 2 --send "{bad" &&
	test_grep "^{\"error\":\"invalid JSON at byte 1" frames
'

test_expect_success STACK,WSCLIENT 'several bad frames in a row, each answered' '
	send_then_good bad 6 --send "{" --send "[1,]" --send "nul" \
		--send "{\"a\":1} x" --send "\"\\q\"" &&
	test "$(grep -c "^{\"error\":\"invalid JSON" frames)" = 5
'

test_expect_success STACK,WSCLIENT 'an empty or blank frame is refused' '
	send_then_good bad 3 --send "" --send "   "
'

test_expect_success STACK,WSCLIENT 'multi-line JSON in one frame is refused, line by line' '
	printf "{\n  \"a\": 1\n}" >multi.json &&
	send_then_good multi 4 --send-file multi.json &&
	test "$(grep -c "^{\"error\":\"invalid JSON" frames)" = 3
'

test_expect_success STACK,WSCLIENT 'invalid UTF-8 in a text frame is refused' '
	printf "\"\\377\"" >ff.json &&
	printf "[\"\\300\\257\"]" >overlong.json &&
	printf "\"\\355\\240\\200\"" >surrogate.json &&
	printf "\"caf\\303\"" >cut.json &&
	send_then_good utf 5 --send-file ff.json --send-file overlong.json \
		--send-file surrogate.json --send-file cut.json &&
	test "$(grep -c "^{\"error\":\"invalid UTF-8" frames)" = 4
'

test_expect_success STACK,WSCLIENT 'valid UTF-8 and escapes are stored byte for byte' '
	since=$(last_id utf) &&
	printf "{\"t\":\"caf\\303\\251 \\360\\237\\230\\200 \\\\u00e9\", \"n\": 0.1}" >ok.json &&
	ws_client --expect 1 --send-file ok.json "$WSBASE/ws/utf?since=$since" >frames &&
	printf "\"data\":{\"t\":\"caf\\303\\251 \\360\\237\\230\\200 \\\\u00e9\",\"n\":0.1}}\n" >expect &&
	sed "s/.*\(\"data\":\)/\1/" frames >got &&
	test_cmp expect got
'

test_expect_success STACK,WSCLIENT 'a frame of exactly LOGCAST_MAX_BODY bytes is accepted' '
	since=$(last_id big) &&
	ws_client --expect 1 --send-size 65536 "$WSBASE/ws/big?since=$since" >frames &&
	test "$(ws_check_frames frames)" = 0 &&
	logcast read --since "$since" big >stored &&
	test_cmp stored frames
'

test_expect_success STACK,WSCLIENT 'one byte more is refused with an error frame' '
	send_then_good big 2 --send-size 65537 &&
	test_grep "^{\"error\":\"message is larger than the limit of 65536 bytes\"}$" frames
'

test_expect_success STACK,WSCLIENT,!ASAN 'a 16 MiB frame is refused, the child stays small' '
	since=$(last_id big) &&
	ws_client_bg --hold --timeout-ms 30000 --send-size 16777216 \
		--send "{\"after\":1}" "$WSBASE/ws/big?since=$since" >frames 2>err &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 30 "test \$(wc -l <frames) -ge 2" &&
	child=$(ws_children) &&
	test -n "$child" &&
	set -- $(ws_mem $child) &&
	test_measured "child after a refused 16 MiB frame: PSS $1 kB, RSS $2 kB, peak RSS $3 kB" &&
	test "$3" -lt 8192 &&
	test "$(ws_check_frames frames)" = 1 &&
	test_grep "larger than the limit" frames &&
	logcast read --since "$since" big >stored &&
	test_line_count = 1 stored &&
	test_grep "\"data\":{\"after\":1}}$" stored
'

test_expect_success STACK,WSCLIENT 'a thousand bad frames do not wear the socket out' '
	for i in $(seq 1000); do printf -- "--send\n{x%d\n" $i; done >args &&
	since=$(last_id many) &&
	tr "\n" "\0" <args | xargs -0 node "$TEST_DIRECTORY/lib-wsclient.js" \
		--expect 1001 --timeout-ms 30000 --send "[1000]" \
		"$WSBASE/ws/many?since=$since" >frames &&
	test "$(ws_check_frames frames)" = 1000 &&
	logcast read --since "$since" many >stored &&
	test_line_count = 1 stored
'

test_expect_success STACK,WSCLIENT 'a socket may publish far more than LOGCAST_MAX_BODY in total' '
	since=$(last_id total) &&
	for i in $(seq 200); do printf -- "--send-size\n1000\n"; done |
		tr "\n" "\0" | xargs -0 node "$TEST_DIRECTORY/lib-wsclient.js" \
		--expect 200 --timeout-ms 30000 "$WSBASE/ws/total?since=$since" >frames &&
	test "$(ws_check_frames frames)" = 0 &&
	logcast read --since "$since" total >stored &&
	test_line_count = 200 stored
'

test_expect_success STACK 'restart with LOGCAST_MAX_BODY=1000' '
	LOGCAST_MAX_BODY=1000 &&
	export LOGCAST_MAX_BODY &&
	stack_restart
'

test_expect_success STACK,WSCLIENT 'the limit comes from LOGCAST_MAX_BODY' '
	since=$(last_id small) &&
	ws_client --expect 4 --send-size 1000 --send-size 1001 --send-size 5000 \
		--send "{\"after\":1}" "$WSBASE/ws/small?since=$since" >frames &&
	test "$(ws_check_frames frames)" = 2 &&
	test "$(grep -c "limit of 1000 bytes" frames)" = 2 &&
	logcast read --since "$since" small >stored &&
	test_line_count = 2 stored
'

test_expect_success STACK 'the children logged nothing (no error, no sanitizer report)' '
	ws_check_log
'

test_done
