#!/bin/bash
test_description='the same API as plain CGI under lighttpd mod_cgi: publish, short poll, long poll, SSE, bad input'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-sse.sh"

export LOGCAST_MODE=cgi LOGCAST_SSE_KEEPALIVE=1

test_expect_success LIGHTTPD 'start the stack with the API as CGI' '
	stack_start &&
	http GET "$BASE/api/health" &&
	test_status 200 &&
	grep "\"mode\":\"cgi\"" out
'

test_expect_success LIGHTTPD 'publish and short poll' '
	http POST "$BASE/api/channels/cgi/messages" -d "{\"n\":0.1}" &&
	test_status 201 &&
	grep "^{\"id\":1,\"channel\":\"cgi\",.*\"data\":{\"n\":0.1}}$" out &&
	http GET "$BASE/api/channels/cgi/messages?since=0" &&
	test_status 200 &&
	test_header X-Last-Id 1 &&
	grep "^\[{\"id\":1," out
'

test_expect_success LIGHTTPD 'long poll: woken by a publish, 204 at the timeout' '
	{ curl -s -o lp.out "$BASE/api/channels/cgi/poll?since=1&timeout=30" & } &&
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	t0=$(now_ms) &&
	logcast append cgi "\"two\"" >/dev/null &&
	wait $pid &&
	test_measured "CGI long poll answered $(( $(now_ms) - t0 )) ms after a publish" &&
	grep "^\[{\"id\":2,.*\"data\":\"two\"}\]$" lp.out &&
	http GET "$BASE/api/channels/cgi/poll?since=2&timeout=1" &&
	test_status 204 &&
	test_header X-Last-Id 2
'

test_expect_success LIGHTTPD 'SSE: replay, live, keep-alive' '
	sse_start s "$BASE/api/channels/cgi/events?since=0" &&
	test_wait_until 10 "grep -q \"^id: 2\" s.events" &&
	logcast append cgi "\"three\"" >/dev/null &&
	test_wait_until 10 "grep -q \"^id: 3\" s.events" &&
	test_wait_until 10 "grep -q \"^:\" s.events" &&
	sse_ids s >ids &&
	seq 3 >expect &&
	test_cmp expect ids
'

test_expect_success LIGHTTPD 'one bad input of each kind' '
	http POST "$BASE/api/channels/cgi/messages" -d "{" &&
	test_json_error 400 &&
	http GET "$BASE/api/channels/cgi/messages?since=-1" &&
	test_json_error 400 &&
	http GET "$BASE/api/channels/%2e%2e/poll" &&
	test_json_error 400 &&
	http DELETE "$BASE/api/channels/cgi/messages" &&
	test_json_error 405 &&
	http GET "$BASE/api/nothing" &&
	test_json_error 404
'

test_expect_success LIGHTTPD 'a waiting CGI process ends when its client goes' '
	{ curl -s -o /dev/null "$BASE/api/channels/cgi/poll?since=100&timeout=60" & } &&
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	kill $pid &&
	t0=$(now_ms) &&
	test_wait_until 70 "test \"\$(health_field held_long_polls)\" = 0" &&
	test_measured "CGI long poll process released $(( $(now_ms) - t0 )) ms after its client left"
'

test_done
