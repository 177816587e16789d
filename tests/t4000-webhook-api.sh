#!/bin/bash
test_description='webhooks API: register, list, one, delete, retry, attempts; bad input gets 400/401/404/405/413 with JSON errors'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
export LOGCAST_ADMIN_TOKEN=admin-token-for-webhook-tests
. "$TEST_DIRECTORY/lib-webhook.sh"

# Endpoints here never get a message they could reach: .invalid never
# resolves, and the channels they follow get no message after they are
# registered.
HOOK=https://hooks.example.invalid/in

test_expect_success LIGHTTPD 'start the stack with an admin token' '
	stack_start &&
	for i in 1 2 3; do logcast append before "{\"n\":$i}" >/dev/null || return 1; done
'

test_expect_success LIGHTTPD 'register: 201 with id, secret, Location; cursors start at the last ids' '
	http POST "$BASE/api/webhooks" -H "$WH_AUTH" -H "Content-Type: application/json" \
		--data-binary "{\"url\":\"$HOOK\",\"channels\":[\"before\",\"fresh\"],\"secret\":\"$WH_SECRET\"}" &&
	test_status 201 &&
	id=$(json out o.id) &&
	echo "$id" | grep -q "^wh_[0-9a-f]\{16\}$" &&
	test "$(header_value Location)" = "/api/webhooks/$id" &&
	test "$(json out o.secret)" = "$WH_SECRET" &&
	test "$(json out o.url)" = "$HOOK" &&
	test "$(json out o.channels)" = "[\"before\",\"fresh\"]" &&
	echo "$id" >id1 &&
	wh_field "$id" o.cursors >cursors &&
	echo "{\"before\":3,\"fresh\":0}" >expect &&
	test_cmp expect cursors &&
	test "$(json wh.json o.disabled)" = false &&
	test "$(json wh.json o.failures)" = 0
'

test_expect_success LIGHTTPD 'register without a secret: a generated whsec_ of 32 random bytes' '
	http POST "$BASE/api/webhooks" -H "$WH_AUTH" -d "{\"url\":\"$HOOK/2\",\"channels\":[\"fresh\"]}" &&
	test_status 201 &&
	secret=$(json out o.secret) &&
	echo "$secret" | grep -q "^whsec_[A-Za-z0-9+/]\{43\}=$" &&
	test "$secret" != "$WH_SECRET" &&
	json out o.id >id2
'

test_expect_success LIGHTTPD 'the list and the one never show a secret' '
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" &&
	test_status 200 &&
	test_header Cache-Control no-store &&
	grep -F "\"id\":\"$(cat id1)\"" out &&
	grep -F "\"id\":\"$(cat id2)\"" out &&
	! grep -i "whsec\|secret" out &&
	http GET "$BASE/api/webhooks/$(cat id1)" -H "$WH_AUTH" &&
	test_status 200 &&
	! grep -i "whsec\|secret" out &&
	http GET "$BASE/api/webhooks/$(cat id1)/attempts" -H "$WH_AUTH" &&
	test_status 200 &&
	! grep -i "whsec" out
'

test_expect_success LIGHTTPD 'the make run demo receiver is registered for chat and orders' '
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" &&
	grep -F "\"url\":\"$BASE/hooks/receiver\",\"channels\":[\"chat\",\"orders\"]" out
'

test_expect_success LIGHTTPD 'attempts of a new endpoint: an empty array' '
	http GET "$BASE/api/webhooks/$(cat id2)/attempts" -H "$WH_AUTH" &&
	test_status 200 &&
	test "$(cat out)" = "[]"
'

test_expect_success LIGHTTPD 'retry on an endpoint: 200 with its state' '
	http POST "$BASE/api/webhooks/$(cat id2)/retry" -H "$WH_AUTH" -d "" &&
	test_status 200 &&
	test "$(json out o.id)" = "$(cat id2)" &&
	test "$(json out o.disabled)" = false
'

# bad METHOD URL STATUS [curl args]
bad() {
	local method=$1 url=$2 status=$3
	shift 3
	http "$method" "$url" "$@" &&
	test_json_error "$status"
}

# bad_reg BODY: a registration refused with 400
bad_reg() {
	bad POST "$BASE/api/webhooks" 400 -H "$WH_AUTH" -H "Content-Type: application/json" \
		--data-binary "$1" || return 1
	say_verbose "$1 -> $(cat out)"
}

test_expect_success LIGHTTPD 'snapshot before the bad requests' '
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" &&
	cp out list-before &&
	cp "$LOGCAST_DATA_DIR/webhooks/subscriptions.json" subs-before
'

test_expect_success LIGHTTPD 'bad URLs: 400' '
	bad_reg "{\"url\":\"not a url\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":\"ftp://example.com/x\",\"channels\":[\"a\"]}" &&
	grep "http:// or https://" out &&
	bad_reg "{\"url\":\"http://user:pass@example.com/\",\"channels\":[\"a\"]}" &&
	grep "user name or password" out &&
	bad_reg "{\"url\":\"http://user@example.com/\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":\"\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":42,\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":\"http://example.com/$(printf "x%.0s" $(seq 2100))\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":\"http://exa mple.com/\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"channels\":[\"a\"]}"
'

test_expect_success LIGHTTPD 'private, loopback and link-local literals without an allow: 400' '
	for u in http://127.0.0.1:9/x http://10.1.2.3/ http://192.168.0.1/ http://172.16.5.4/ \
		http://169.254.169.254/latest http://100.64.0.1/ http://0.0.0.0/ \
		"http://[::1]:9/" "http://[fe80::1]/" "http://[fd00::1]/" "http://[::ffff:127.0.0.1]/" \
		http://2130706433/
	do
		bad_reg "{\"url\":\"$u\",\"channels\":[\"a\"]}" &&
		grep -q "refused destination" out || return 1
	done
'

test_expect_success LIGHTTPD 'the demo receiver address is allowed, nothing else of loopback' '
	bad_reg "{\"url\":\"http://127.0.0.1:$((PORT + 2))/x\",\"channels\":[\"a\"]}" &&
	bad_reg "{\"url\":\"http://127.0.0.2:$PORT/x\",\"channels\":[\"a\"]}"
'

test_expect_success LIGHTTPD 'bad channels: 400' '
	bad_reg "{\"url\":\"$HOOK\"}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[]}" &&
	grep "must not be empty" out &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":\"chat\"}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"bad name\"]}" &&
	grep "invalid channel name" out &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\".hidden\"]}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"$(printf "a%.0s" $(seq 65))\"]}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[1]}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\",\"a\"]}" &&
	grep "twice" out &&
	many=$(for i in $(seq 65); do printf "\"c%d\"," $i; done) &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[${many%,}]}" &&
	grep "at most 64" out
'

test_expect_success LIGHTTPD 'bad secrets: 400' '
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"secret\":\"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}" &&
	grep "whsec_" out &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"secret\":\"whsec_c2hvcnQ=\"}" &&
	grep "bytes" out &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"secret\":\"whsec_!!!!MfKQ9r8GKYqrTwjUPD8ILPZIo2La\"}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"secret\":\"whsec_$(head -c 66 /dev/zero | base64 -w 0)\"}" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"secret\":12}"
'

test_expect_success LIGHTTPD 'bad JSON bodies: 400' '
	bad_reg "{\"url\":" &&
	grep "invalid JSON" out &&
	bad_reg "[1,2]" &&
	bad_reg "\"x\"" &&
	bad_reg "" &&
	bad_reg "{\"url\":\"$HOOK\",\"channels\":[\"a\"],\"extra\":1}" &&
	grep "unknown field" out &&
	bad_reg "{\"url\":\"$HOOK\",\"url\":\"$HOOK\",\"channels\":[\"a\"]}"
'

test_expect_success LIGHTTPD 'a body over 16 KiB: 413 (from us, and from lighttpd past its limit)' '
	{ printf "{\"url\":\"%s\",\"channels\":[\"a\"],\"pad\":\"" "$HOOK"; head -c 17000 /dev/zero | tr "\0" x; printf "\"}"; } >big.json &&
	bad POST "$BASE/api/webhooks" 413 -H "$WH_AUTH" --data-binary @big.json &&
	head -c 300000 /dev/zero | tr "\0" x >huge.json &&
	bad POST "$BASE/api/webhooks" 413 -H "$WH_AUTH" --data-binary @huge.json
'

test_expect_success LIGHTTPD 'missing or wrong admin token: 401 with WWW-Authenticate, on every route' '
	id=$(cat id1) &&
	for r in "GET /api/webhooks" "POST /api/webhooks" "GET /api/webhooks/$id" \
		"DELETE /api/webhooks/$id" "GET /api/webhooks/$id/attempts" "POST /api/webhooks/$id/retry"
	do
		set -- $r &&
		if test "$1" = POST; then body="-d {}"; else body=; fi &&
		bad "$1" "$BASE$2" 401 $body &&
		test_header WWW-Authenticate Bearer &&
		bad "$1" "$BASE$2" 401 $body -H "Authorization: Bearer wrong" &&
		bad "$1" "$BASE$2" 401 $body -H "Authorization: Bearer ${LOGCAST_ADMIN_TOKEN}x" &&
		bad "$1" "$BASE$2" 401 $body -H "Authorization: Basic $LOGCAST_ADMIN_TOKEN" || return 1
	done
'

test_expect_success LIGHTTPD 'after all of that nothing was stored' '
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" &&
	test_cmp list-before out &&
	test_cmp subs-before "$LOGCAST_DATA_DIR/webhooks/subscriptions.json"
'

test_expect_success LIGHTTPD 'unknown ids and routes: 404 JSON' '
	bad GET "$BASE/api/webhooks/wh_0000000000000000" 404 -H "$WH_AUTH" &&
	bad GET "$BASE/api/webhooks/wh_0000000000000000/attempts" 404 -H "$WH_AUTH" &&
	bad POST "$BASE/api/webhooks/wh_0000000000000000/retry" 404 -H "$WH_AUTH" -d "" &&
	bad DELETE "$BASE/api/webhooks/wh_0000000000000000" 404 -H "$WH_AUTH" &&
	bad GET "$BASE/api/webhooks/nope" 404 -H "$WH_AUTH" &&
	bad GET "$BASE/api/webhooks/$(cat id1)/nope" 404 -H "$WH_AUTH" &&
	bad GET "$BASE/api/webhooks/$(cat id1)/attempts/1" 404 -H "$WH_AUTH"
'

test_expect_success LIGHTTPD 'wrong methods: 405 with Allow' '
	bad PUT "$BASE/api/webhooks" 405 -H "$WH_AUTH" &&
	test "$(header_value Allow)" = "GET, HEAD, POST, OPTIONS" &&
	bad DELETE "$BASE/api/webhooks" 405 -H "$WH_AUTH" &&
	bad POST "$BASE/api/webhooks/$(cat id1)" 405 -H "$WH_AUTH" -d "{}" &&
	test "$(header_value Allow)" = "GET, HEAD, DELETE, OPTIONS" &&
	bad POST "$BASE/api/webhooks/$(cat id1)/attempts" 405 -H "$WH_AUTH" -d "{}" &&
	bad GET "$BASE/api/webhooks/$(cat id1)/retry" 405 -H "$WH_AUTH" &&
	test "$(header_value Allow)" = "POST, OPTIONS"
'

test_expect_success LIGHTTPD 'OPTIONS is a CORS preflight, without a token' '
	http OPTIONS "$BASE/api/webhooks" -H "Origin: http://example.com" \
		-H "Access-Control-Request-Method: POST" &&
	test_status 204 &&
	test_header Access-Control-Allow-Origin "*" &&
	header_value Access-Control-Allow-Methods | grep POST &&
	header_value Access-Control-Allow-Headers | grep -i Authorization &&
	http OPTIONS "$BASE/api/webhooks/$(cat id1)/retry" &&
	test_status 204 &&
	test "$(header_value Allow)" = "POST, OPTIONS" &&
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" -H "Origin: http://example.com" &&
	test_header Access-Control-Allow-Origin "*"
'

test_expect_success LIGHTTPD 'HEAD of the list: headers, no body' '
	http HEAD "$BASE/api/webhooks" -H "$WH_AUTH" -I &&
	test_status 200 &&
	test_header Content-Type application/json
'

test_expect_success LIGHTTPD 'delete: 204, then 404, and gone from the list' '
	id=$(cat id2) &&
	http DELETE "$BASE/api/webhooks/$id" -H "$WH_AUTH" &&
	test_status 204 &&
	test ! -s out &&
	bad GET "$BASE/api/webhooks/$id" 404 -H "$WH_AUTH" &&
	bad DELETE "$BASE/api/webhooks/$id" 404 -H "$WH_AUTH" &&
	http GET "$BASE/api/webhooks" -H "$WH_AUTH" &&
	! grep -F "$id" out &&
	grep -F "$(cat id1)" out
'

test_expect_success LIGHTTPD 'the dispatcher removes a deleted endpoint'"'"'s state' '
	test_wait_until 10 "test -f \"$LOGCAST_DATA_DIR/webhooks/state/$(cat id1).json\"" &&
	test_wait_until 10 "test ! -f \"$LOGCAST_DATA_DIR/webhooks/state/$(cat id2).json\""
'

test_expect_success LIGHTTPD 'the admin token is in no log or data file of ours; secrets only in subscriptions.json' '
	! grep -r -F "$LOGCAST_ADMIN_TOKEN" "$LOGCAST_DATA_DIR" "$TRASH_DIRECTORY/log" &&
	grep -r -l -F "$WH_SECRET" "$LOGCAST_DATA_DIR" "$TRASH_DIRECTORY/log" >where &&
	echo "$LOGCAST_DATA_DIR/webhooks/subscriptions.json" >expect &&
	test_cmp expect where &&
	test "$(stat -c %a "$LOGCAST_DATA_DIR/webhooks/subscriptions.json")" = 660
'

test_done
