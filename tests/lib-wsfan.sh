# lib-wsfan.sh - the body of the WebSocket fan-out tests, run twice:
# t3030 with the API's fan-out (children hand their stdout over) and
# t3035 with LOGCAST_WS_FANOUT=0 (each child waits on the log's futex).
# The caller sets WSFAN_HANDED to 1 or 0 and sources test-lib.sh first.
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-ws.sh"

N=300

# The point is to serve more sockets than the 128 inotify instances a user
# gets by default; on a machine where that limit was raised the 300-socket
# test would prove nothing, so it is skipped (visibly) there.
test_lazy_prereq INOTIFY128 'test "$(cat /proc/sys/fs/inotify/max_user_instances)" -le 128'

test_expect_success LIGHTTPD,WEBSOCKETD 'start the stack' '
	stack_start &&
	test_set_prereq STACK
'

test_expect_success STACK,WSCLIENT,INOTIFY128 "$N sockets connect (more than the $(cat /proc/sys/fs/inotify/max_user_instances) inotify instances allowed)" '
	since=$(last_id fan) &&
	echo "$since" >since &&
	ws_client_bg --clients $N --expect 1 --timeout-ms 120000 --ready ready \
		--events events --out frames "$WSBASE/ws/fan?since=$since" 2>fan.err &&
	echo $! >client.pid &&
	test_wait_until 60 "test -f ready" &&
	test_wait_until 60 "test \$(ws_ready_count) = $N" &&
	test_set_prereq FAN
'

test_expect_success FAN 'no child holds an inotify instance, an eventfd or a thread' '
	for p in $(ws_children)
	do
		ls -l "/proc/$p/fd" || return 1
	done >fds 2>/dev/null &&
	test_grep ! -e "inotify" -e "eventfd" fds &&
	for p in $(ws_children)
	do
		ls "/proc/$p/task" | wc -l
	done | sort -u >threads &&
	echo 1 >one &&
	test_cmp one threads
'

if test "$WSFAN_HANDED" = 1; then
	test_expect_success FAN 'every child handed its output to the fan-out' '
		test "$(ws_handed_count)" = $N
	'
else
	test_expect_success FAN 'no child handed its output over: each waits on the log' '
		test "$(ws_handed_count)" = 0
	'
fi

test_expect_success FAN,!ASAN 'memory per child (PSS, RSS)' '
	total_pss=0 total_rss=0 n=0 max_pss=0 &&
	for p in $(ws_children)
	do
		set -- $(ws_mem "$p") &&
		total_pss=$((total_pss + $1)) &&
		total_rss=$((total_rss + $2)) &&
		n=$((n + 1)) &&
		if test "$1" -gt "$max_pss"; then max_pss=$1; fi || return 1
	done &&
	test "$n" = $N &&
	test_measured "logcast-ws child with $n sockets open: PSS $((total_pss / n)) kB average ($max_pss kB max), RSS $((total_rss / n)) kB average" &&
	test $((total_pss / n)) -lt 1024
'

test_expect_success FAN,HTTPAPI '/api/health counts the WebSocket connections' '
	curl -sf "$BASE/api/health" >health &&
	test_grep "\"websocket_connections\":$N[,}]" health
'

test_expect_success FAN "one message reaches all $N sockets" '
	t0=$(now_ms) &&
	logcast append fan "{\"to\":\"everyone\"}" >expect &&
	wait $(cat client.pid) &&
	t1=$(sed -n "s/^frame \([0-9]*\) .*/\1/p" events | sort -n | tail -n 1) &&
	test_measured "one message to $N sockets: all delivered $((t1 - t0)) ms after the publish began (CLI start included)" &&
	test "$(wc -l <frames)" = $N &&
	cut -f2 frames | sort | uniq -c >counts &&
	test_line_count = 1 counts &&
	cut -f2 frames | head -n 1 >got &&
	test_cmp expect got &&
	cut -f1 frames | sort -n | uniq | wc -l >clients &&
	echo $N >n &&
	test_cmp n clients
'

# a sanitized child runs a leak check and unmaps a large shadow when it
# exits: 300 of them at once take far longer than plain ones
gone_limit=10
test_have_prereq ASAN && gone_limit=90

test_expect_success FAN "all $N children are gone soon after their sockets closed" '
	t0=$(sed -n "s/^done \([0-9]*\) .*/\1/p" events) &&
	ws_wait_gone $gone_limit &&
	t1=$(now_ms) &&
	test_measured "$N sockets closed together: every child gone $((t1 - t0)) ms after the close" &&
	test $((t1 - t0)) -lt $((gone_limit * 1000))
'

test_expect_success FAN,HTTPAPI 'and they counted themselves out' '
	test_wait_until 10 "curl -sf \"\$BASE/api/health\" | grep -q \"\\\"websocket_connections\\\":0[,}]\""
'

# measure_exit CLIENT-ARGS...: connect one socket, end it the way the
# arguments say, print how long its child lived after the client ended it.
measure_exit() {
	rm -f ready events &&
	ws_client_bg --ready ready --events events --timeout-ms 30000 "$@" \
		"$WSBASE/ws/bye?since=0" >/dev/null 2>&1 &&
	cpid=$! &&
	test_wait_until 10 "test -f ready && test \$(ws_ready_count) = 1" &&
	child=$(ws_children) &&
	test -n "$child" &&
	test_wait_until 30 "test -f events && grep -q ^closing events" &&
	test_wait_until 10 "! kill -0 $child" &&
	t1=$(now_ms) &&
	t0=$(sed -n "s/^closing \([0-9]*\).*/\1/p" events) &&
	wait $cpid &&
	echo $((t1 - t0))
}

test_expect_success STACK,WSCLIENT 'a client that closes: its child is gone promptly' '
	ms=$(measure_exit --close-after-ms 300) &&
	test_measured "close handshake to child exit: $ms ms" &&
	test "$ms" -lt 5000
'

test_expect_success STACK,WSCLIENT 'a client that drops the TCP connection: its child is gone promptly' '
	ms=$(measure_exit --close-after-ms 300 --terminate) &&
	test_measured "TCP drop (no close frame) to child exit: $ms ms" &&
	test "$ms" -lt 5000
'

test_expect_success STACK,WSCLIENT 'a client that leaves while messages stream: its child is gone' '
	for i in $(seq 3000); do echo "{\"i\":$i,\"pad\":\"$(printf "%0200d" 0)\"}"; done >burst &&
	logcast append --lines burst <burst >/dev/null &&
	ws_client --expect 10 --timeout-ms 20000 "$WSBASE/ws/burst?since=0" >frames &&
	test_line_count = 10 frames &&
	ws_wait_gone 5
'

# The child writes the first two bytes of its first line when it starts
# (the prime, wsfan.h): a socket that ends before any line must still get
# no frame at all.
test_expect_success STACK,WSCLIENT 'SIGTERM: the child exits at once, no frame half sent' '
	ws_client_bg --hold --timeout-ms 30000 "$WSBASE/ws/term?since=0" \
		>term.frames 2>err &&
	cpid=$! &&
	test_when_finished "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null; true" &&
	test_wait_until 10 "test \$(ws_ready_count) = 1" &&
	child=$(ws_children) &&
	t0=$(now_ms) &&
	kill -TERM "$child" &&
	test_wait_until 5 "! kill -0 $child" &&
	t1=$(now_ms) &&
	test_measured "SIGTERM to exit: $((t1 - t0)) ms" &&
	test_expect_code 4 wait $cpid &&
	test_grep "closed by server" err &&
	! test -s term.frames
'

test_expect_success STACK,WSCLIENT 'an error as the first frame arrives whole' '
	ws_client --expect 1 --send "not json" "$WSBASE/ws/first?since=0" >frames &&
	test_line_count = 1 frames &&
	test_grep "^{\"error\":\"[^\"]*\"}\$" frames
'

test_expect_success STACK,WSCLIENT,HTTPAPI 'no connection is counted any more' '
	test_wait_until 10 "curl -sf \"\$BASE/api/health\" | grep -q \"\\\"websocket_connections\\\":0[,}]\""
'

if test "$WSFAN_HANDED" = 1; then
	test_expect_success STACK,WSCLIENT 'the responder stops: its sockets close, no frame half sent' '
		since=$(last_id gone) &&
		echo "$since" >gone.since &&
		ws_client_bg --clients 3 --timeout-ms 30000 --ready gone.ready \
			--out gone.frames "$WSBASE/ws/gone?since=$since" 2>gone.err &&
		cpid=$! &&
		test_when_finished "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null; true" &&
		test_wait_until 10 "test -f gone.ready && test \$(ws_ready_count) = 3" &&
		test "$(ws_handed_count)" = 3 &&
		kill -TERM "$(stack_api_pid)" &&
		test_expect_code 4 wait $cpid &&
		test_grep "closed by server" gone.err &&
		! test -s gone.frames &&
		ws_wait_gone 10
	'

	test_expect_success STACK,WSCLIENT 'a client that comes back with since gets what it missed' '
		logcast append gone "\"missed\"" >expect &&
		ws_client --expect 1 "$WSBASE/ws/gone?since=$(cat gone.since)" >frames &&
		test_cmp expect frames
	'
fi

test_expect_success STACK 'the children logged nothing (no error, no sanitizer report)' '
	ws_check_log
'

test_done
