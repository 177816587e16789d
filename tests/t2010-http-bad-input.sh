#!/bin/bash
test_description='HTTP API: every kind of bad input gets its status and a JSON error, and changes nothing'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

export LOGCAST_MAX_BODY=1000
export LOGCAST_WEBHOOK_DEMO=0   # its receipts channel would show up below
export LOGCAST_PUBLISH_TOKEN=s3cret-token-for-tests
AUTH="Authorization: Bearer $LOGCAST_PUBLISH_TOKEN"

test_expect_success LIGHTTPD 'start the stack with a token and a 1000-byte body limit' '
	stack_start &&
	http POST "$BASE/api/channels/chat/messages" -H "$AUTH" -d "\"first\"" &&
	test_status 201 &&
	log_snapshot before
'

# bad METHOD URL STATUS [curl args]: the request gets STATUS with a JSON error
bad() {
	local method=$1 url=$2 status=$3
	shift 3
	http "$method" "$url" "$@" &&
	test_json_error "$status"
}

test_expect_success LIGHTTPD 'invalid JSON: 400' '
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" -d "{\"a\":" &&
	grep "invalid JSON" out &&
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" -d "" &&
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" -d "[1,]"
'

test_expect_success LIGHTTPD 'invalid UTF-8: 400' '
	printf "\"\\377\\376\"" >bad.bin &&
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" --data-binary @bad.bin &&
	grep "invalid UTF-8" out &&
	printf "\"\\355\\240\\200\"" >surrogate.bin &&
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" --data-binary @surrogate.bin
'

test_expect_success LIGHTTPD 'body over the limit: 413, from us and from lighttpd' '
	printf "\"%01000d\"" 0 >big.json &&
	bad POST "$BASE/api/channels/chat/messages" 413 -H "$AUTH" --data-binary @big.json &&
	head -c 200000 /dev/zero | tr "\0" 1 >huge.json &&
	bad POST "$BASE/api/channels/chat/messages" 413 -H "$AUTH" --data-binary @huge.json
'

test_expect_success LIGHTTPD 'a body of exactly the limit is accepted' '
	printf "\"%0998d\"" 0 >limit.json &&
	test $(wc -c <limit.json) = 1000 &&
	http POST "$BASE/api/channels/limit/messages" -H "$AUTH" --data-binary @limit.json &&
	test_status 201 &&
	logcast read limit >/dev/null &&
	log_snapshot before
'

test_expect_success LIGHTTPD 'bad channel names: 400 (or 404 where lighttpd refuses the path first)' '
	long=$(printf "a%.0s" $(seq 65)) &&
	bad GET "$BASE/api/channels/$long/messages" 400 &&
	bad POST "$BASE/api/channels/$long/messages" 400 -H "$AUTH" -d 1 &&
	bad GET "$BASE/api/channels/%2e%2e/messages" 400 &&
	bad GET "$BASE/api/channels/a%2Fb/messages" 400 &&
	bad GET "$BASE/api/channels/.hidden/messages" 400 &&
	bad GET "$BASE/api/channels/caf%C3%A9/poll" 400 &&
	# lighttpd refuses a %00 in the path itself, before any of its
	# per-URL settings (the JSON error documents) apply
	http GET "$BASE/api/channels/%00x/events" &&
	test_status 400 &&
	http GET "$BASE/api/channels/../messages" --path-as-is &&
	{ test_json_error 400 || test_json_error 404; } &&
	test_path_is_missing "$LOGCAST_DATA_DIR/messages" &&
	ls "$LOGCAST_DATA_DIR/channels" >dirs &&
	printf "chat\nlimit\n" >expect &&
	test_cmp expect dirs
'

test_expect_success LIGHTTPD 'bad numbers are refused, never clamped: 400' '
	for q in since=-1 since=abc since=99999999999999999999 since=9223372036854775808 \
		since= "since=1%20" limit=0 limit=1001 limit=x
	do
		bad GET "$BASE/api/channels/chat/messages?$q" 400 || return 1
	done &&
	for q in timeout=1000 timeout=0 timeout=121 since=-1 limit=0
	do
		bad GET "$BASE/api/channels/chat/poll?$q" 400 || return 1
	done &&
	bad GET "$BASE/api/channels/chat/events?since=abc" 400 &&
	bad GET "$BASE/api/channels/chat/events" 400 -H "Last-Event-ID: nope" &&
	http GET "$BASE/api/channels/chat/messages?since=9223372036854775807" &&
	test_status 200
'

test_expect_success LIGHTTPD 'wrong method: 405 with Allow' '
	bad DELETE "$BASE/api/channels/chat/messages" 405 &&
	header_value Allow | grep "GET, HEAD, POST, OPTIONS" &&
	bad POST "$BASE/api/channels/chat/poll" 405 -H "$AUTH" -d 1 &&
	bad PUT "$BASE/api/health" 405 &&
	bad GET "$BASE/add" 405 &&
	test "$(header_value Allow)" = "POST, OPTIONS" &&
	bad GET "$BASE/orders" 405
'

test_expect_success LIGHTTPD 'unknown routes: 404 JSON' '
	bad GET "$BASE/api/nothing" 404 &&
	bad GET "$BASE/api/channels/chat" 404 &&
	bad GET "$BASE/api/channels/chat/messages/extra" 404 &&
	bad GET "$BASE/api/" 404
'

test_expect_success LIGHTTPD 'missing or wrong token: 401, token never echoed' '
	bad POST "$BASE/api/channels/chat/messages" 401 -d 1 &&
	test_header WWW-Authenticate Bearer &&
	bad POST "$BASE/api/channels/chat/messages" 401 -d 1 -H "Authorization: Bearer wrong" &&
	bad POST "$BASE/api/channels/chat/messages" 401 -d 1 -H "Authorization: Bearer ${LOGCAST_PUBLISH_TOKEN}x" &&
	bad POST "$BASE/api/channels/chat/messages" 401 -d 1 -H "Authorization: Basic $LOGCAST_PUBLISH_TOKEN" &&
	bad POST "$BASE/add" 401 -d 1 &&
	! grep -r "$LOGCAST_PUBLISH_TOKEN" out "$LOGCAST_DATA_DIR" "$TRASH_DIRECTORY/log"
'

test_expect_success LIGHTTPD 'a bad Idempotency-Key: 400' '
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" -H "Idempotency-Key: has space" -d 1 &&
	bad POST "$BASE/api/channels/chat/messages" 400 -H "$AUTH" \
		-H "Idempotency-Key: $(printf "k%.0s" $(seq 256))" -d 1
'

test_expect_success LIGHTTPD 'after all of that the log is unchanged and check is clean' '
	log_snapshot after &&
	test_cmp before after &&
	logcast check >out &&
	! grep -v ": ok," out
'

test_done
