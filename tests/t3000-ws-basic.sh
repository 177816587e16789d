#!/bin/bash
test_description='WebSocket through lighttpd and websocketd: subscribe, publish, resume'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-ws.sh"

# static in a normal build, dynamic (libc only) when sanitized
test_expect_success 'logcast-ws is lean: no libcurl, libcrypto, libjansson or libfcgi' '
	test -x "$BUILD/logcast-ws" &&
	if ldd "$BUILD/logcast-ws" >libs 2>&1
	then
		test_grep "libc\.so" libs &&
		test_grep ! -e libcurl -e libcrypto -e libjansson -e libfcgi libs
	else
		test_grep "not a dynamic executable" libs &&
		nm "$BUILD/logcast-ws" >syms &&
		test_grep " T main$" syms &&
		test_grep ! -e " T curl_" -e " T EVP_" -e " T json_loads" -e " T FCGX_" syms
	fi
'

test_expect_success LIGHTTPD,WEBSOCKETD 'start the stack' '
	stack_start &&
	test_set_prereq STACK
'

test_expect_success STACK,WSCLIENT 'a message published with the CLI arrives at /ws/{ch}' '
	logcast append news "{\"n\":1}" >expect &&
	ws_client --expect 1 "$WSBASE/ws/news?since=0" >frames &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT '/ws is channel chat' '
	logcast append chat "\"hello chat\"" >expect &&
	ws_client --expect 1 "$WSBASE/ws?since=0" >frames &&
	test_cmp expect frames &&
	grep "\"channel\":\"chat\"" frames
'

test_expect_success STACK,WSCLIENT 'a live message arrives while connected' '
	since=$(last_id news) &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/news?since=$since" >frames &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count" &&
	logcast append news "{\"live\":true}" >expect &&
	wait $pid &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT 'without since: messages from the moment it connected' '
	logcast append fresh "\"old\"" >/dev/null &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/fresh" >frames &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count && test \$(ws_ready_count) = 1" &&
	sleep 0.1 &&
	logcast append fresh "\"new\"" >expect &&
	wait $pid &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT 'a frame is published: the log has it and every subscriber gets it' '
	since=$(last_id pub) &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/pub?since=$since" >other &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count" &&
	ws_client --expect 1 --send "{ \"from\" : \"frame\", \"x\": [1, 2.50] }" \
		"$WSBASE/ws/pub?since=$since" >mine &&
	wait $pid &&
	logcast read --since "$since" pub >stored &&
	test_line_count = 1 stored &&
	grep "\"data\":{\"from\":\"frame\",\"x\":\[1,2.50\]}}$" stored &&
	test_cmp stored mine &&
	test_cmp stored other
'

test_expect_success STACK,WSCLIENT 'several frames on one socket are stored in order' '
	since=$(last_id order) &&
	ws_client --expect 5 --send 1 --send 2 --send 3 --send 4 --send 5 \
		"$WSBASE/ws/order?since=$since" >frames &&
	logcast read --since "$since" order >stored &&
	test_cmp stored frames &&
	sed "s/.*\"data\"://; s/}$//" frames >data &&
	printf "%s\n" 1 2 3 4 5 >expect &&
	test_cmp expect data
'

test_expect_success STACK,WSCLIENT 'a frame sent just before closing is still published' '
	since=$(last_id bye) &&
	ws_client --send "\"last words\"" --close-after-ms 0 "$WSBASE/ws/bye" &&
	test_wait_until 5 "test \$(last_id bye) -gt $since" &&
	logcast read --since "$since" bye >stored &&
	test_line_count = 1 stored &&
	test_grep "\"data\":\"last words\"}$" stored
'

test_expect_success STACK,WSCLIENT 'a string holding a newline arrives as one frame' '
	since=$(last_id nl) &&
	ws_client --expect 1 --send "{\"text\":\"line1\\nline2\"}" \
		"$WSBASE/ws/nl?since=$since" >frames &&
	test_line_count = 1 frames &&
	grep "\"data\":{\"text\":\"line1\\\\nline2\"}}$" frames &&
	logcast append nl "[\"a\\nb\"]" >expect &&
	ws_client --expect 1 "$WSBASE/ws/nl?since=$((since + 1))" >frames &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT 'since: everything after N, oldest first, no gaps, no duplicates' '
	for i in $(seq 1 30); do echo "{\"i\":$i}"; done |
		logcast append --lines resume >/dev/null &&
	ws_client --expect 20 "$WSBASE/ws/resume?since=10" >frames &&
	frame_ids frames >ids &&
	seq 11 30 >expect &&
	test_cmp expect ids
'

test_expect_success STACK,WSCLIENT 'resume with since after a disconnect loses and repeats nothing' '
	since=$(last_id resume) &&
	{
		for i in $(seq 1 300)
		do
			logcast append resume "{\"r\":$i}" >/dev/null || exit 1
		done &
	} &&
	apid=$! &&
	test_when_finished "kill $apid 2>/dev/null; wait $apid 2>/dev/null; true" &&
	ws_client --expect 50 --timeout-ms 30000 "$WSBASE/ws/resume?since=$since" >a &&
	test_line_count = 50 a &&
	got=$(frame_ids a | tail -n 1) &&
	ws_client --expect 250 --timeout-ms 30000 "$WSBASE/ws/resume?since=$got" >b &&
	wait $apid &&
	cat a b >all &&
	logcast read --since "$since" resume >expect &&
	test_line_count = 300 expect &&
	test_cmp expect all
'

test_expect_success STACK,WSCLIENT 'since older than retention: continue from the first retained' '
	for i in $(seq 1 40); do echo $i; done |
		LOGCAST_SEGMENT_RECORDS=4 LOGCAST_RETAIN=8 logcast append --lines short >/dev/null &&
	logcast stats short >st &&
	first=$(sed -n "s/.* first=\([0-9]*\) .*/\1/p" st) &&
	test "$first" -gt 2 &&
	n=$((40 - first + 1)) &&
	ws_client --expect $n "$WSBASE/ws/short?since=1" >frames &&
	frame_ids frames >ids &&
	seq "$first" 40 >expect &&
	test_cmp expect ids
'

test_expect_success STACK,WSCLIENT 'since in the future: only ids above it' '
	since=$(last_id future) &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/future?since=$((since + 2))" >frames &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count" &&
	logcast append future 1 >/dev/null &&
	logcast append future 2 >/dev/null &&
	logcast append future 3 >expect &&
	wait $pid &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT 'invalid since: one error frame, then the socket closes' '
	for s in -1 abc "" 1.5 9223372036854775808 99999999999999999999 "1%zz" "1+"
	do
		test_expect_code 4 ws_client --expect 2 "$WSBASE/ws/news?since=$s" \
			>frames 2>err &&
		test_line_count = 1 frames &&
		test_grep "^{\"error\":\"since must be an integer" frames &&
		test_grep "closed by server" err || return 1
	done &&
	test_expect_code 2 ws_client --expect 1 --timeout-ms 500 \
		"$WSBASE/ws/news?since=9223372036854775807" >frames 2>err &&
	test_line_count = 0 frames
'

test_expect_success STACK,WSCLIENT 'invalid channel: one error frame, nothing created' '
	for path in "/ws/" "/ws/.hidden" "/ws/a%2Fb" "/ws/%2541" "/ws/caf%C3%A9" \
		"/ws/a%zzb" "/ws/$(printf "a%.0s" $(seq 65))" "/ws/a/b" "/ws/-x"
	do
		test_expect_code 4 ws_client --expect 2 "$WSBASE$path" \
			>frames 2>err &&
		test_line_count = 1 frames &&
		test_grep "^{\"error\":\"invalid channel name" frames || return 1
	done &&
	ls "$LOGCAST_DATA_DIR/channels" >list &&
	test_grep ! -e "%" -e "^A$" -e "caf" -e "^a$" -e "hidden" list
'

test_expect_success STACK,WSCLIENT 'a NUL in the URL is refused by lighttpd (400)' '
	test_expect_code 3 ws_client --expect 1 "$WSBASE/ws/a%00b" 2>err &&
	test_grep "http 400" err &&
	test_expect_code 3 ws_client --expect 1 "$WSBASE/ws/news?since=1%00" 2>err &&
	test_grep "http 400" err
'

test_expect_success STACK,WSCLIENT 'percent-encoded channel names are decoded once' '
	since=$(last_id Enc-1.x) &&
	ws_client --expect 1 --send "\"enc\"" \
		"$WSBASE/ws/%45nc%2D1%2ex?since=$since" >frames &&
	test_grep "\"channel\":\"Enc-1.x\"" frames &&
	logcast read --since "$since" Enc-1.x >stored &&
	test_cmp stored frames
'

test_expect_success STACK,WSCLIENT 'a subscriber on a new channel sees the first message' '
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/brandnew?since=0" >frames &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count && test -d \"$LOGCAST_DATA_DIR/channels/brandnew\"" &&
	logcast append brandnew "{}" >expect &&
	wait $pid &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT,HTTPAPI 'a message published over HTTP arrives on the socket' '
	since=$(last_id web) &&
	ws_client_bg --expect 1 --ready ready.$test_count --timeout-ms 10000 \
		"$WSBASE/ws/web?since=$since" >frames &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.$test_count" &&
	http_publish web "{\"via\":\"http\"}" >expect &&
	wait $pid &&
	test_cmp expect frames
'

test_expect_success STACK,WSCLIENT,HTTPAPI 'a frame is visible to a short poll' '
	since=$(last_id web) &&
	ws_client --expect 1 --send "{\"via\":\"ws\"}" \
		"$WSBASE/ws/web?since=$since" >frames &&
	curl -sf "$BASE/api/channels/web/messages?since=$since" >poll &&
	{ printf "["; tr -d "\n" <frames; printf "]"; } >expect &&
	tr -d "\n" <poll >got &&
	test "$(cat expect)" = "$(cat got)"
'

test_expect_success STACK,WSCLIENT 'no child is left behind' '
	ws_wait_gone 10
'

test_expect_success STACK 'the children logged nothing (no error, no sanitizer report)' '
	ws_check_log
'

test_done
