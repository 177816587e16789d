#!/bin/bash
test_description='the seed article'"'"'s JavaScript clients, unchanged, against make run'"'"'s stack'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

# the default 30 s long-poll timeout: the seed's long-poll client is waiting
# whenever something is published in these 14 s (after a 204 it pauses a
# second, and a message published in that second is one it never asks for)

test_lazy_prereq FETCH 'node -e "if (typeof fetch !== \"function\") process.exit(1)"'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'run the clients for 14 s; publish the seed way meanwhile' '
	stack_start &&
	{ node "$TEST_DIRECTORY/lib-seed.js" "$BASE" 14 8 >seed.log 2>seed.err & } &&
	pid=$! &&
	sleep 2 &&
	http POST "$BASE/add" -H "Content-Type: application/json" \
		-d "{\"id\":1,\"content\":\"first\"}" &&
	test_status 201 &&
	sleep 2 &&
	http POST "$BASE/add" -d "{\"id\":2,\"content\":\"second\"}" &&
	test_status 201 &&
	wait $pid &&
	test_measured "the seed clients logged $(wc -l <seed.log) lines in 14 s"
'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'the WebSocket client connected and got both messages' '
	grep "\"Подключено к WebSocket\"" seed.log &&
	grep "\"Получено сообщение:\",\"{\\\\\"id\\\\\":1,.*first" seed.log &&
	grep "\"Получено сообщение:\",\"{\\\\\"id\\\\\":2,.*second" seed.log
'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'the long-poll client got each message as it came' '
	grep "\"Новые сообщения:\",\[{\"id\":1,\"channel\":\"chat\".*\"content\":\"first\"" seed.log &&
	grep "\"Новые сообщения:\",\[{\"id\":2,\"channel\":\"chat\".*\"content\":\"second\"" seed.log
'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'the short-poll client saw the list grow (every 5 s)' '
	grep -c "\"Новые сообщения:\",\[\]" seed.log >empty &&
	test "$(cat empty)" -ge 1 &&
	grep "\"Новые сообщения:\",\[{\"id\":1,.*},{\"id\":2,.*\"content\":\"second\"" seed.log
'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'sendMessage() published "Привет!" and every client received it' '
	http GET "$BASE/messages" &&
	grep "\"data\":\"Привет!\"" out &&
	grep "\"Получено сообщение:\",\"{\\\\\"id\\\\\":3,.*Привет!" seed.log &&
	grep "\"Новые сообщения:\",\[{\"id\":3,.*\"data\":\"Привет!\"" seed.log
'

test_expect_success LIGHTTPD,FETCH,WSCLIENT 'the clients logged no errors' '
	! grep "\"level\":\"error\"" seed.log
'

test_done
