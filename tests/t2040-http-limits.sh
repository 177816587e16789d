#!/bin/bash
test_description='held-request limit (503 + Retry-After), the lighttpd config check, the fd budget'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

export LOGCAST_MAX_HELD=3

test_expect_success LIGHTTPD 'lighttpd.conf passes lighttpd -tt (every env variable it names defined)' '
	(
		for v in $(grep -o "env\.LOGCAST_[A-Z_]*" "$TOP/lighttpd.conf" | sed "s/^env\.//" | sort -u)
		do
			export "$v="
		done &&
		export LOGCAST_BIND=127.0.0.1 LOGCAST_PORT=1 LOGCAST_WWW="$TOP/www" \
			LOGCAST_RUN_DIR="$RUN_DIR" LOGCAST_LOG_DIR="$TRASH_DIRECTORY" \
			LOGCAST_BUILD="$BUILD" LOGCAST_ERRORS="$TOP/fcgi/errors" \
			LOGCAST_FCGI_MATCH="^/api/" LOGCAST_CGI_MATCH="^$" LOGCAST_MAX_FDS=20000 \
			LOGCAST_MAX_REQUEST_KB=65 LOGCAST_WS_PORT=2 LOGCAST_WS_IDLE=65535 \
			LOGCAST_DATA_DIR=x &&
		lighttpd -tt -f "$TOP/lighttpd.conf"
	)
'

test_expect_success LIGHTTPD 'start the stack with LOGCAST_MAX_HELD=3' '
	stack_start
'

test_expect_success LIGHTTPD 'past the limit of held requests: 503 with Retry-After, never a hang' '
	pids= &&
	for i in 1 2
	do
		curl -s -o held.$i "$BASE/api/channels/h/poll?timeout=30" &
		pids="$pids $!"
	done &&
	curl -sN -o held.3 "$BASE/api/channels/h/events" &
	pids="$pids $!" &&
	test_wait_until 10 "test \$(( \$(health_field held_long_polls) + \$(health_field sse_streams) )) = 3" &&
	t0=$(now_ms) &&
	http GET "$BASE/api/channels/h/poll?timeout=30" &&
	test_json_error 503 &&
	test_header Retry-After 5 &&
	http GET "$BASE/api/channels/h/events" &&
	test_json_error 503 &&
	test_measured "503 for the 4th held request after $(( $(now_ms) - t0 )) ms" &&
	http GET "$BASE/api/channels/h/messages" &&
	test_status 200 &&
	kill $pids &&
	{ wait $pids; true; }
'

test_expect_success LIGHTTPD 'lighttpd has the descriptor budget for 8,000 held clients' '
	pid=$(cat "$LOGCAST_RUN_DIR/lighttpd.pid") &&
	limit=$(sed -n "s/^Max open files *\([0-9]*\).*/\1/p" /proc/$pid/limits) &&
	test_measured "lighttpd may open $limit files" &&
	test "$limit" -ge 16384
'

# Deliveries go first: the accept threads (LOGCAST_THREADS of them) run
# LOGCAST_REQUEST_NICE steps nicer than the hub and the rest of the
# responder.  The nice value of each thread is field 19 of its stat file.
thread_nices() {
	for t in /proc/$1/task/*/stat
	do
		sed "s/^.*) //" "$t" | cut -d" " -f17
	done | sort -n | uniq -c | awk "{ printf \"%s:%s \", \$2, \$1 }"
}

test_expect_success LIGHTTPD 'the accept threads run nicer than the delivering ones' '
	api=$(stack_api_pid) &&
	nices=$(thread_nices $api) &&
	test_measured "logcast-api threads by nice value (nice:count): $nices" &&
	echo "$nices" | grep "10:16 " &&
	echo "$nices" | grep "^0:[1-9]"
'

test_expect_success LIGHTTPD 'LOGCAST_REQUEST_NICE=0: every thread at the same priority; 20 is refused' '
	stack_stop &&
	LOGCAST_REQUEST_NICE=0 stack_start &&
	api=$(stack_api_pid) &&
	nices=$(thread_nices $api) &&
	test_measured "with LOGCAST_REQUEST_NICE=0: $nices" &&
	echo "$nices" | grep "^0:[0-9]* $" &&
	test_expect_code 1 env LOGCAST_REQUEST_NICE=20 LOGCAST_DATA_DIR="$TRASH_DIRECTORY/n" \
		logcast-api --socket "$RUN_DIR/nice.sock" 2>err &&
	grep "LOGCAST_REQUEST_NICE must be 0 to 19" err &&
	stack_stop &&
	stack_start
'

test_lazy_prereq TMPFS '
	mkdir -p "$TRASH_DIRECTORY/probe" &&
	mount -t tmpfs -o size=64k tmpfs "$TRASH_DIRECTORY/probe" &&
	umount "$TRASH_DIRECTORY/probe"
'

test_expect_success LIGHTTPD,TMPFS 'a full disk: 507 with a JSON error, nothing partial, then 201 again' '
	small="$TRASH_DIRECTORY/small" &&
	mkdir -p "$small" &&
	mount -t tmpfs -o size=512k tmpfs "$small" &&
	# the stack on it must be gone before it can be unmounted
	test_atexit "stack_stop; umount \"$small\" || umount -l \"$small\"" &&
	head -c 131072 /dev/zero >"$small/ballast" &&
	stack_stop &&
	LOGCAST_DATA_DIR="$small/var" stack_start &&
	pad=$(printf "%0900d" 0) &&
	n=0 &&
	while http POST "$BASE/api/channels/full/messages" -d "\"$pad\"" && test "$(cat out.status)" = 201
	do
		n=$((n + 1))
		test $n -lt 2000 || return 1
	done &&
	test_json_error 507 &&
	grep "disk full" out &&
	http GET "$BASE/api/channels/full/messages?since=0&limit=1000" &&
	test "$(grep -o "{\"id\":" out | wc -l)" = $n &&
	LOGCAST_DATA_DIR="$small/var" logcast check full >check.out &&
	grep "full: ok, $n messages" check.out &&
	rm "$small/ballast" &&
	http POST "$BASE/api/channels/full/messages" -d "\"after\"" &&
	test_status 201
'

test_done
