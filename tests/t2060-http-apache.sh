#!/bin/bash
test_description='under Apache 2.4: the API over mod_proxy_fcgi and as CGI (mod_cgid), and /ws through mod_proxy'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-apache.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-sse.sh"

export LOGCAST_SSE_KEEPALIVE=1 LOGCAST_MAX_BODY=1000

smoke() {
	mode=$1 ch=$2
	test_expect_success APACHE "$mode: health says so" '
		http GET "$BASE/api/health" &&
		test_status 200 &&
		grep "\"mode\":\"$mode\"" out
	'
	test_expect_success APACHE "$mode: publish and short poll" '
		http POST "$BASE/api/channels/$ch/messages" -d "{\"n\":0.1}" &&
		test_status 201 &&
		grep "^{\"id\":1,\"channel\":\"$ch\",.*\"data\":{\"n\":0.1}}$" out &&
		http GET "$BASE/api/channels/$ch/messages?since=0" &&
		test_status 200 &&
		test_header X-Last-Id 1
	'
	test_expect_success APACHE "$mode: long poll woken by a publish, 204 at the timeout" '
		{ curl -s -o lp.out "$BASE/api/channels/$ch/poll?since=1&timeout=30" & } &&
		pid=$! &&
		test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
		t0=$(now_ms) &&
		http POST "$BASE/api/channels/$ch/messages" -d "\"two\"" &&
		wait $pid &&
		test_measured "$mode under Apache: long poll answered $(( $(now_ms) - t0 )) ms after a publish" &&
		grep "^\[{\"id\":2,.*\"data\":\"two\"}\]$" lp.out &&
		http GET "$BASE/api/channels/$ch/poll?since=2&timeout=1" &&
		test_status 204
	'
	test_expect_success APACHE "$mode: SSE streams through Apache as events happen" '
		sse_start s "$BASE/api/channels/$ch/events?since=0" &&
		test_wait_until 10 "grep -q \"^id: 2\" s.events" &&
		t0=$(now_ms) &&
		http POST "$BASE/api/channels/$ch/messages" -d "\"three\"" &&
		test_wait_until 10 "grep -q \"^id: 3\" s.events" &&
		test_measured "$mode under Apache: SSE event $(( $(now_ms) - t0 )) ms after a publish" &&
		test_wait_until 10 "grep -q \"^:\" s.events"
	'
	test_expect_success APACHE "$mode: bad input gets JSON errors" '
		http POST "$BASE/api/channels/$ch/messages" -d "{" &&
		test_json_error 400 &&
		http GET "$BASE/api/channels/$ch/poll?timeout=1000" &&
		test_json_error 400 &&
		http GET "$BASE/api/channels/%2e%2e/messages" &&
		{ test_json_error 400 || test_json_error 404; } &&
		printf "\"%01000d\"" 0 >big.json &&
		http POST "$BASE/api/channels/$ch/messages" --data-binary @big.json &&
		test_json_error 413 &&
		http GET "$BASE/api/nothing" &&
		test_json_error 404
	'
}

test_expect_success APACHE 'apache.conf passes apache2 -t' '
	apache_setup &&
	apache2 -t -f "$TRASH_DIRECTORY/httpd.conf" 2>err &&
	grep "Syntax OK" err
'

test_expect_success APACHE 'start Apache with the FastCGI daemon and websocketd' '
	apache_start
'
smoke fastcgi afc

test_expect_success APACHE 'the demo page is served; bench.json falls back to bench-absent.json' '
	http GET "$BASE/" &&
	test_status 200 &&
	grep -i "logcast" out &&
	if test -f "$TOP/www/bench.json"
	then
		http GET "$BASE/bench.json" && test_status 200
	else
		http GET "$BASE/bench.json" && test_status 200 && grep "\"absent\": true" out
	fi
'

test_expect_success APACHE,WSCLIENT 'WebSocket through Apache: a publish arrives as a frame' '
	node "$TEST_DIRECTORY/lib-wsclient.js" "$WSBASE/ws/afc?since=0" --expect 3 \
		--timeout-ms 10000 >frames &&
	test_line_count = 3 frames &&
	grep "\"id\":3," frames
'

test_expect_success APACHE 'restart Apache with the API as plain CGI' '
	apache_stop &&
	apache_start -D LOGCAST_CGI
'
smoke cgi acgi

test_done
