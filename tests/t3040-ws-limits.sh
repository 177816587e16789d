#!/bin/bash
test_description='WebSocket limits: lighttpd idle cut-off (LOGCAST_WS_IDLE), websocketd --maxforks (LOGCAST_WS_MAXFORKS), the fan-out limit (LOGCAST_WS_FANOUT)'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-ws.sh"

# A short idle limit, in seconds; quiet sockets are kept for twice that.
LOGCAST_WS_IDLE_SHORT=${LOGCAST_WS_IDLE_SHORT:-3}
short=$LOGCAST_WS_IDLE_SHORT

test_expect_success LIGHTTPD,WEBSOCKETD "start the stack with LOGCAST_WS_IDLE=$short" '
	LOGCAST_WS_IDLE=$short &&
	export LOGCAST_WS_IDLE &&
	stack_start &&
	test_set_prereq STACK
'

test_expect_success STACK,WSCLIENT "a quiet socket is cut after about $short s" '
	test_expect_code 4 ws_client --hold --timeout-ms $((short * 5000)) \
		"$WSBASE/ws/quiet?since=0" 2>err &&
	ms=$(sed -n "s/.*closed by server after \([0-9]*\) ms.*/\1/p" err) &&
	test_measured "LOGCAST_WS_IDLE=$short: a quiet socket was cut after $ms ms" &&
	test "$ms" -ge $(( (short - 1) * 1000 )) &&
	test "$ms" -le $(( (short + 3) * 1000 )) &&
	ws_wait_gone 5
'

test_expect_success STACK,WSCLIENT 'a client that pings is not cut' '
	ws_client --hold --ping-ms 500 --timeout-ms $((short * 2000)) \
		"$WSBASE/ws/quiet?since=0" 2>err &&
	test_grep "still open after $((short * 2000)) ms" err
'

# The max-read-idle of lighttpd is about the silence of the client: what
# the server sends does not count.  That is why LOGCAST_WS_IDLE defaults
# to 65535 s (the contract has no heartbeat frames).
test_expect_success STACK,WSCLIENT 'a client that only listens is cut even while messages flow' '
	since=$(last_id talk) &&
	n=$((short * 2 * 4)) &&
	ws_client_bg --expect $n --timeout-ms $((short * 5000)) \
		"$WSBASE/ws/talk?since=$since" >frames 2>err &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	for i in $(seq $n)
	do
		sleep 0.25 &&
		logcast append talk $i >/dev/null || return 1
	done &&
	test_expect_code 4 wait $pid &&
	test_grep "closed by server" err &&
	test $(wc -l <frames) -lt $n &&
	test $(wc -l <frames) -gt 0
'

test_expect_success STACK 'restart with the default LOGCAST_WS_IDLE (65535)' '
	unset LOGCAST_WS_IDLE &&
	stack_restart
'

test_expect_success STACK,WSCLIENT "a socket quiet for $((2 * short)) s survives and still gets messages" '
	since=$(last_id quiet) &&
	ws_client_bg --expect 1 --ready ready --events events \
		--timeout-ms $((short * 10000)) "$WSBASE/ws/quiet?since=$since" \
		>frames 2>err &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready" &&
	sleep $((2 * short)) &&
	logcast append quiet "\"still there\"" >expect &&
	wait $pid &&
	test_cmp expect frames &&
	t0=$(sed -n "s/^open \([0-9]*\).*/\1/p" events) &&
	t1=$(sed -n "s/^frame \([0-9]*\).*/\1/p" events) &&
	test_measured "LOGCAST_WS_IDLE=65535: a socket quiet for $((t1 - t0)) ms was kept" &&
	test $((t1 - t0)) -ge $((2 * short * 1000))
'

test_expect_success STACK 'restart with LOGCAST_WS_MAXFORKS=2' '
	LOGCAST_WS_MAXFORKS=2 &&
	export LOGCAST_WS_MAXFORKS &&
	stack_restart
'

test_expect_success STACK,WSCLIENT 'the third concurrent socket gets HTTP 429 through lighttpd' '
	ws_client_bg --hold --ready ready.a --timeout-ms 60000 \
		"$WSBASE/ws/full?since=0" >/dev/null 2>err.a &&
	pid_a=$! &&
	ws_client_bg --hold --ready ready.b --timeout-ms 60000 \
		"$WSBASE/ws/full?since=0" >/dev/null 2>err.b &&
	pid_b=$! &&
	test_when_finished "kill $pid_a $pid_b 2>/dev/null; wait $pid_a $pid_b 2>/dev/null; true" &&
	test_wait_until 10 "test -f ready.a && test -f ready.b && test \$(ws_child_count) = 2" &&
	test_expect_code 3 ws_client --expect 1 "$WSBASE/ws/full?since=0" 2>err &&
	test_grep "http 429" err &&
	curl -s -o body -w "%{http_code}\n" -H "Connection: Upgrade" -H "Upgrade: websocket" \
		-H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
		"$BASE/ws/full" >code &&
	echo 429 >expect &&
	test_cmp expect code &&
	test_measured "third socket with LOGCAST_WS_MAXFORKS=2: HTTP $(cat code), body: $(head -c 60 body | tr -d "\n")" &&

	# one leaves: there is room again, while the other stays connected
	kill $pid_a &&
	test_wait_until 10 "test \$(ws_child_count) = 1" &&
	logcast append full "\"room again\"" >expect &&
	ws_client --expect 1 "$WSBASE/ws/full?since=0" >frames &&
	test_cmp expect frames &&
	kill -0 $pid_b
'

test_expect_success STACK 'restart with LOGCAST_WS_FANOUT=1 (room for one handed-over socket)' '
	LOGCAST_WS_MAXFORKS=10 LOGCAST_WS_FANOUT=1 &&
	export LOGCAST_WS_MAXFORKS LOGCAST_WS_FANOUT &&
	stack_restart
'

test_expect_success STACK,WSCLIENT 'past LOGCAST_WS_FANOUT a socket is refused by the fan-out, waits on the log itself and gets everything' '
	ws_client_bg --clients 3 --expect 2 --timeout-ms 30000 --ready ready \
		--out fo.frames "$WSBASE/ws/fo?since=0" 2>fo.err &&
	pid=$! &&
	test_wait_until 20 "test -f ready && test \$(ws_ready_count) = 3" &&
	test "$(ws_handed_count)" = 1 &&
	logcast append fo "\"one\"" >expect &&
	logcast append fo "\"two\"" >>expect &&
	wait $pid &&
	test_line_count = 6 fo.frames &&
	cut -f1 fo.frames | sort -u >clients &&
	test_line_count = 3 clients &&
	for c in $(cat clients)
	do
		awk -F "\t" -v c="$c" "\$1 == c { print \$2 }" fo.frames >got &&
		test_cmp expect got || return 1
	done
'

test_expect_success STACK 'the children logged nothing (no error, no sanitizer report)' '
	ws_check_log
'

test_done
