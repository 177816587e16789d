#!/bin/bash
test_description='webhooks: register, publish, the receiver gets the envelope signed so that the official standardwebhooks package verifies it; the seed POST /orders; the make run demo receiver'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-webhook.sh"

wh_receiver_port

test_expect_success LIGHTTPD,RECEIVER 'start a receiver and the stack' '
	receiver_start recv "$RPORT" &&
	stack_start
'

test_expect_success LIGHTTPD,RECEIVER 'register an endpoint; a message from before is not delivered' '
	http POST "$BASE/api/channels/news/messages" -d "\"before\"" &&
	test_status 201 &&
	wh_register "http://127.0.0.1:$RPORT/hook" news &&
	echo "$WH_ID" >id &&
	test "$(wh_field "$WH_ID" o.cursors.news)" = 1
'

test_expect_success LIGHTTPD,RECEIVER 'a published message arrives, verified by the official package' '
	http POST "$BASE/api/channels/news/messages" -H "Content-Type: application/json" \
		--data-binary "{ \"z\" : 12345678901234567890, \"a\" : 0.1, \"s\" : \"caf\\u00e9\" }" &&
	test_status 201 &&
	{ cat out && echo; } >envelope &&
	test_wait_until 10 "test \$(receiver_count recv hook) -ge 1" &&
	test "$(receiver_count recv hook)" = 1 &&
	test "$(receiver_field recv verified hook)" = true &&
	test "$(receiver_field recv id hook)" = msg_news_2 &&
	test "$(receiver_field recv type hook)" = application/json &&
	test "$(receiver_field recv method hook)" = POST &&
	receiver_field recv sig hook | grep "^v1,[A-Za-z0-9+/]\{43\}=$" &&
	ts=$(receiver_field recv ts hook) &&
	now=$(date +%s) &&
	test "$ts" -le "$now" && test "$ts" -ge $((now - 30))
'

test_expect_success LIGHTTPD,RECEIVER 'the body is the stored envelope, byte for byte' '
	receiver_field recv body hook >got &&
	logcast read --since 1 news >stored &&
	test_cmp stored got &&
	test_cmp envelope got &&
	grep -F "\"z\":12345678901234567890,\"a\":0.1" got
'

test_expect_success LIGHTTPD,RECEIVER 'messages arrive in order; publish->delivery latency' '
	: >lat &&
	for i in $(seq 1 20)
	do
		n=$(receiver_count recv hook) &&
		t0=$(now_ms) &&
		http POST "$BASE/api/channels/news/messages" -d "{\"i\":$i}" &&
		test_status 201 &&
		test_wait_until 10 "test \$(receiver_count recv hook) -gt $n" &&
		t1=$(tail -n 1 "$TRASH_DIRECTORY/recv/hook.log" | sed "s/^{\"t\":\([0-9]*\),.*/\1/") &&
		echo $((t1 - t0)) >>lat || return 1
	done &&
	receiver_field recv id hook >ids &&
	for i in $(seq 2 22); do echo "msg_news_$i"; done >expect &&
	test_cmp expect ids &&
	sort -n lat >lat.sorted &&
	p50=$(sed -n 10p lat.sorted) && max=$(tail -n 1 lat.sorted) &&
	test_measured "webhook publish->delivery (watch mode, through lighttpd): p50 ${p50} ms, max ${max} ms over 20 messages" &&
	test "$max" -lt 2000
'

test_expect_success LIGHTTPD,RECEIVER 'every delivery verified; state and attempts are visible' '
	! receiver_field recv verified hook | grep -v true &&
	id=$(cat id) &&
	test_wait_until 10 "test \"\$(wh_field $id o.cursors.news)\" = 22" &&
	test "$(json wh.json o.delivered)" = 21 &&
	test "$(json wh.json o.failures)" = 0 &&
	test "$(json wh.json o.dispatcher_seen)" = true &&
	json wh.json o.last_success_at | grep "^20[0-9-]*T" &&
	wh_attempts "$id" "o.length" >n &&
	test "$(cat n)" = 21 &&
	test "$(json wh-attempts.json "o[0].webhook_id")" = msg_news_22 &&
	test "$(json wh-attempts.json "o[0].status")" = 200 &&
	test "$(json wh-attempts.json "o[0].ok")" = true &&
	test "$(json wh-attempts.json "o[0].error")" = null &&
	test "$(json wh-attempts.json "o[20].message_id")" = 2 &&
	json wh-attempts.json "o[0].duration_ms" | grep "^[0-9][0-9]*$"
'

test_expect_success LIGHTTPD,RECEIVER 'registering creates no channel; one created later is delivered from id 1' '
	wh_register "http://127.0.0.1:$RPORT/later" later &&
	test "$(wh_field $WH_ID o.cursors.later)" = 0 &&
	test_path_is_missing "$LOGCAST_DATA_DIR/channels/later" &&
	sleep 0.2 &&
	t0=$(now_ms) &&
	http POST "$BASE/api/channels/later/messages" -d "\"first ever\"" &&
	test_status 201 &&
	test_wait_until 10 "test \$(receiver_count recv later) -ge 1" &&
	t1=$(tail -n 1 "$TRASH_DIRECTORY/recv/later.log" | sed "s/^{\"t\":\([0-9]*\),.*/\1/") &&
	test_measured "a channel created after its webhook: first message delivered $((t1 - t0)) ms after its publish" &&
	test "$(receiver_field recv id later)" = msg_later_1
'

test_expect_success LIGHTTPD,RECEIVER 'the seed POST /orders is delivered to the endpoints of orders' '
	wh_register "http://127.0.0.1:$RPORT/orders-hook" orders &&
	http POST "$BASE/orders" -H "Content-Type: application/json" -d "{\"id\":7,\"amount\":99.5}" &&
	test_status 201 &&
	test_wait_until 10 "test \$(receiver_count recv orders-hook) -ge 1" &&
	test "$(receiver_field recv verified orders-hook)" = true &&
	receiver_field recv body orders-hook >got &&
	grep "^{\"id\":1,\"channel\":\"orders\",\"time\":\"[^\"]*\",\"data\":{\"id\":7,\"amount\":99.5}}$" got &&
	test "$(receiver_field recv id orders-hook)" = msg_orders_1
'

test_expect_success LIGHTTPD,RECEIVER 'an endpoint on two channels gets both, each in order' '
	wh_register "http://127.0.0.1:$RPORT/both" alpha beta &&
	for i in 1 2 3
	do
		http POST "$BASE/api/channels/alpha/messages" -d "$i" &&
		http POST "$BASE/api/channels/beta/messages" -d "$i" || return 1
	done &&
	test_wait_until 10 "test \$(receiver_count recv both) -ge 6" &&
	receiver_field recv id both >ids &&
	grep alpha ids >a && printf "msg_alpha_1\nmsg_alpha_2\nmsg_alpha_3\n" >expect && test_cmp expect a &&
	grep beta ids >b && printf "msg_beta_1\nmsg_beta_2\nmsg_beta_3\n" >expect && test_cmp expect b
'

test_expect_success LIGHTTPD,RECEIVER 'the make run demo receiver records chat messages on webhook-receipts' '
	http POST "$BASE/add" -H "Content-Type: application/json" -d "{\"id\":1,\"content\":\"Привет!\"}" &&
	test_status 201 &&
	n=$(json out o.id) &&
	test_wait_until 10 "curl -s \"$BASE/api/channels/webhook-receipts/messages?since=0\" | grep -q msg_chat_$n" &&
	curl -s "$BASE/api/channels/webhook-receipts/messages?since=0" >receipts &&
	json receipts "o.find(m => m.data.webhook_id === \"msg_chat_$n\").data.verified" >v &&
	test "$(cat v)" = true &&
	json receipts "o.find(m => m.data.webhook_id === \"msg_chat_$n\").data.envelope.data.content" >c &&
	test "$(cat c)" = "Привет!" &&
	json receipts "o.find(m => m.data.webhook_id === \"msg_orders_1\").data.envelope.data.amount" >a &&
	test "$(cat a)" = 99.5
'

test_expect_success LIGHTTPD 'the demo receiver refuses bad signatures (401), stale timestamps (400), missing headers (400)' '
	body="{\"id\":9,\"channel\":\"chat\",\"time\":\"2026-01-01T00:00:00.000Z\",\"data\":1}" &&
	http POST "$BASE/hooks/receiver" -d "$body" -H "webhook-id: msg_chat_9" \
		-H "webhook-timestamp: $(date +%s)" \
		-H "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" &&
	test_json_error 401 &&
	http POST "$BASE/hooks/receiver" -d "$body" -H "webhook-id: msg_chat_9" &&
	test_json_error 400 &&
	secret=$(cat "$LOGCAST_DATA_DIR/webhooks/demo-secret") &&
	old=$(( $(date +%s) - 600 )) &&
	sig=$(node -e "
		const { Webhook } = require(\"$TEST_DIRECTORY/node_modules/standardwebhooks\");
		console.log(new Webhook(process.argv[1]).sign(\"msg_chat_9\", new Date($old * 1000), process.argv[2]));
	" "$secret" "$body") &&
	http POST "$BASE/hooks/receiver" -d "$body" -H "webhook-id: msg_chat_9" \
		-H "webhook-timestamp: $old" -H "webhook-signature: $sig" &&
	test_json_error 400 &&
	grep "timestamp" out &&
	http GET "$BASE/hooks/receiver" &&
	test_json_error 405
'

test_expect_success LIGHTTPD,RECEIVER 'the demo receiver drops a repeated webhook-id' '
	secret=$(cat "$LOGCAST_DATA_DIR/webhooks/demo-secret") &&
	now=$(date +%s) &&
	body="{\"id\":99,\"channel\":\"chat\",\"time\":\"2026-01-01T00:00:00.000Z\",\"data\":1}" &&
	sig=$(node -e "
		const { Webhook } = require(\"$TEST_DIRECTORY/node_modules/standardwebhooks\");
		console.log(new Webhook(process.argv[1]).sign(\"msg_test_99\", new Date($now * 1000), process.argv[2]));
	" "$secret" "$body") &&
	for want in 204 200 200
	do
		http POST "$BASE/hooks/receiver" -d "$body" -H "webhook-id: msg_test_99" \
			-H "webhook-timestamp: $now" -H "webhook-signature: $sig" &&
		test_status $want || return 1
	done &&
	curl -s "$BASE/api/channels/webhook-receipts/messages?since=0" | grep -o msg_test_99 >n &&
	test_line_count = 1 n
'

test_expect_success LIGHTTPD,RECEIVER 'a deleted endpoint gets nothing more' '
	id=$(cat id) &&
	n=$(receiver_count recv hook) &&
	http DELETE "$BASE/api/webhooks/$id" -H "$WH_AUTH" &&
	test_status 204 &&
	sleep 0.3 &&
	http POST "$BASE/api/channels/news/messages" -d "\"after delete\"" &&
	sleep 1 &&
	test "$(receiver_count recv hook)" = "$n"
'

test_done
