#!/bin/bash
test_description='held-request limit (503 + Retry-After), the lighttpd config check, the fd budget'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

export LOGCAST_MAX_HELD=3

health_field() {
	curl -s "$BASE/api/health" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

test_expect_success LIGHTTPD 'lighttpd.conf passes lighttpd -tt with the settings run.sh gives it' '
	env LOGCAST_BIND=127.0.0.1 LOGCAST_PORT=1 LOGCAST_WWW="$TOP/www" \
		LOGCAST_RUN_DIR="$RUN_DIR" LOGCAST_LOG_DIR="$TRASH_DIRECTORY" \
		LOGCAST_BUILD="$BUILD" LOGCAST_ERRORS="$TOP/fcgi/errors" \
		LOGCAST_FCGI_MATCH="^/api/" LOGCAST_CGI_MATCH="^$" LOGCAST_MAX_FDS=20000 \
		LOGCAST_MAX_REQUEST_KB=65 LOGCAST_WS_PORT=2 LOGCAST_WS_IDLE=65535 \
		LOGCAST_DATA_DIR=x LOGCAST_PUBLISH_TOKEN= LOGCAST_MAX_BODY= LOGCAST_RETAIN= \
		LOGCAST_RETAIN_BYTES= LOGCAST_FSYNC= LOGCAST_SEGMENT_RECORDS= \
		LOGCAST_CORS_ORIGIN= LOGCAST_POLL_TIMEOUT= LOGCAST_SSE_KEEPALIVE= \
		LOGCAST_MAX_HELD= \
		lighttpd -tt -f "$TOP/lighttpd.conf"
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

test_done
