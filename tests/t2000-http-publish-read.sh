#!/bin/bash
test_description='HTTP API: publish, short poll, channels, health, CORS, idempotency, the seed routes'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

test_expect_success LIGHTTPD 'start the stack' '
	stack_start
'

test_expect_success LIGHTTPD 'publish answers 201 with the envelope' '
	http POST "$BASE/api/channels/chat/messages" -H "Content-Type: application/json" \
		--data-binary "{ \"text\" : \"hello\" , \"n\" : 0.1 }" &&
	test_status 201 &&
	test_header Content-Type application/json &&
	grep "^{\"id\":1,\"channel\":\"chat\",\"time\":\"20[0-9-]*T[0-9:]*\.[0-9]\{3\}Z\",\"data\":{\"text\":\"hello\",\"n\":0.1}}$" out
'

test_expect_success LIGHTTPD 'data is kept byte for byte: numbers, key order, unicode, escapes' '
	printf "{\"z\":12345678901234567890,\"a\":0.1,\"e\":1E+2,\"s\":\"caf\303\251 \\\\u00e9 \\\\n\"}" >in.json &&
	http POST "$BASE/api/channels/chat/messages" --data-binary @in.json &&
	test_status 201 &&
	sed -e "s/.*\"data\"://" -e "s/}$//" out >got &&
	test_cmp in.json got
'

test_expect_success LIGHTTPD 'any JSON value can be published (any Content-Type)' '
	for v in "\"str\"" 42 true null "[1,[2]]"
	do
		http POST "$BASE/api/channels/kinds/messages" -H "Content-Type: text/plain" --data-binary "$v" &&
		test_status 201 || return 1
	done &&
	http GET "$BASE/api/channels/kinds/messages" &&
	test "$(grep -o "\"data\":[^}]*}" out | wc -l)" = 5
'

test_expect_success LIGHTTPD 'short poll returns envelopes after since, with the range headers' '
	http GET "$BASE/api/channels/chat/messages?since=1" &&
	test_status 200 &&
	test_header X-First-Id 1 &&
	test_header X-Last-Id 2 &&
	test_header Cache-Control no-store &&
	grep "^\[{\"id\":2,\"channel\":\"chat\"" out &&
	test "$(grep -o "{\"id\":" out | wc -l)" = 1
'

test_expect_success LIGHTTPD 'short poll without since gives the newest L, oldest first' '
	for i in $(seq 3 12); do logcast append chat "$i" >/dev/null || return 1; done &&
	http GET "$BASE/api/channels/chat/messages?limit=3" &&
	test_status 200 &&
	grep -o "\"id\":[0-9]*" out >ids &&
	printf "\"id\":10\n\"id\":11\n\"id\":12\n" >expect &&
	test_cmp expect ids
'

test_expect_success LIGHTTPD 'limit bounds the answer' '
	http GET "$BASE/api/channels/chat/messages?since=0&limit=5" &&
	test "$(grep -o "{\"id\":" out | wc -l)" = 5 &&
	http GET "$BASE/api/channels/chat/messages?since=0&limit=1000" &&
	test "$(grep -o "{\"id\":" out | wc -l)" = 12
'

test_expect_success LIGHTTPD 'an unknown channel is empty, and nothing is created' '
	http GET "$BASE/api/channels/nosuch/messages?since=0" &&
	test_status 200 &&
	test "$(cat out)" = "[]" &&
	test_header X-First-Id 0 &&
	test_header X-Last-Id 0 &&
	test_path_is_missing "$LOGCAST_DATA_DIR/channels/nosuch"
'

test_expect_success LIGHTTPD 'HEAD on a short poll has the headers and no body' '
	http HEAD "$BASE/api/channels/chat/messages" -I &&
	test_status 200 &&
	test_header X-Last-Id 12
'

test_expect_success LIGHTTPD 'Idempotency-Key: a repeat answers 200 with the original, stores nothing' '
	http POST "$BASE/api/channels/orders/messages" -H "Idempotency-Key: order-42" -d "{\"order\":42}" &&
	test_status 201 &&
	cp out first &&
	http POST "$BASE/api/channels/orders/messages" -H "Idempotency-Key: order-42" -d "{\"order\":43}" &&
	test_status 200 &&
	test_cmp first out &&
	http GET "$BASE/api/channels/orders/messages" &&
	test "$(grep -o "{\"id\":" out | wc -l)" = 1 &&
	http POST "$BASE/api/channels/orders/messages" -H "Idempotency-Key: order-43" -d "{\"order\":43}" &&
	test_status 201
'

test_expect_success LIGHTTPD 'the channel list' '
	http GET "$BASE/api/channels" &&
	test_status 200 &&
	grep "{\"channel\":\"chat\",\"first_id\":1,\"last_id\":12}" out &&
	grep "{\"channel\":\"orders\",\"first_id\":1,\"last_id\":2}" out
'

test_expect_success LIGHTTPD 'health reports live counts' '
	http GET "$BASE/api/health" &&
	test_status 200 &&
	grep "\"ok\":true" out &&
	grep "\"mode\":\"fastcgi\"" out &&
	grep "\"held_long_polls\":0" out &&
	grep "\"sse_streams\":0" out &&
	grep "\"websocket_connections\":[0-9]" out &&
	grep "\"open_fds\":[1-9]" out
'

test_expect_success LIGHTTPD 'CORS: every answer allows the origin; OPTIONS is a preflight' '
	http GET "$BASE/api/channels/chat/messages" -H "Origin: http://example.com" &&
	test_header Access-Control-Allow-Origin "*" &&
	header_value Access-Control-Expose-Headers | grep X-Last-Id &&
	http OPTIONS "$BASE/api/channels/chat/messages" -H "Origin: http://example.com" \
		-H "Access-Control-Request-Method: POST" &&
	test_status 204 &&
	header_value Access-Control-Allow-Methods | grep POST &&
	header_value Access-Control-Allow-Headers | grep -i Idempotency-Key &&
	http OPTIONS "$BASE/api/health" &&
	test_status 204
'

test_expect_success LIGHTTPD 'seed routes: POST /add, GET /messages, POST /orders' '
	http POST "$BASE/add" -H "Content-Type: application/json" -d "{\"id\":1,\"content\":\"Привет!\"}" &&
	test_status 201 &&
	grep "\"channel\":\"chat\"" out &&
	http GET "$BASE/messages" &&
	test_status 200 &&
	grep "\"content\":\"Привет!\"" out &&
	http POST "$BASE/orders" -d "{\"id\":7,\"amount\":99.5}" &&
	test_status 201 &&
	grep "\"channel\":\"orders\",.*\"data\":{\"id\":7,\"amount\":99.5}}" out
'

test_expect_success LIGHTTPD 'the log is consistent afterwards' '
	logcast check >out &&
	! grep -v ": ok," out
'

test_done
