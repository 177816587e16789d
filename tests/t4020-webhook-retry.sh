#!/bin/bash
test_description='webhooks: retries on a compressed schedule, receiver down then back, 500, timeout, 410, 301, exhausted schedule then retry, Retry-After'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-webhook.sh"

test_set_port RPORT
test_set_port DOWNPORT
export LOGCAST_WEBHOOK_ALLOW="127.0.0.1:$RPORT,127.0.0.1:$DOWNPORT"
export LOGCAST_WEBHOOK_SCHEDULE=500ms,500ms,1s,1s,1s,1s
export LOGCAST_WEBHOOK_TIMEOUT=1

# publish CHANNEL DATA
publish() {
	http POST "$BASE/api/channels/$1/messages" -d "$2" &&
	test_status 201
}

test_expect_success LIGHTTPD,RECEIVER 'start a receiver and the stack (schedule 500ms,500ms,1s,1s,1s,1s; timeout 1 s)' '
	receiver_start recv "$RPORT" &&
	stack_start
'

test_expect_success LIGHTTPD,RECEIVER 'receiver down: retried, then everything delivered once it is back, in order' '
	wh_register "http://127.0.0.1:$DOWNPORT/d" down &&
	echo "$WH_ID" >id-down &&
	for i in 1 2 3; do publish down "{\"i\":$i}" || return 1; done &&
	test_wait_until 10 "test \$(wh_attempts $WH_ID o.length) -ge 2" &&
	test "$(json wh-attempts.json "o.every(a => !a.ok && a.message_id === 1 && a.status === null)")" = true &&
	json wh-attempts.json "o[0].error" | grep -i "connect" &&
	test "$(wh_field $WH_ID o.failures)" -ge 2 &&
	json wh.json o.next_attempt_at | grep "^20" &&
	receiver_start down "$DOWNPORT" &&
	test_wait_until 15 "test \$(receiver_count down d) -ge 3" &&
	receiver_field down id d >ids &&
	printf "msg_down_1\nmsg_down_2\nmsg_down_3\n" >expect &&
	test_cmp expect ids &&
	test_wait_until 5 "test \"\$(wh_field $WH_ID o.failures)\" = 0" &&
	test "$(json wh.json o.cursors.down)" = 3 &&
	test "$(json wh.json o.next_attempt_at)" = null
'

test_expect_success LIGHTTPD,RECEIVER '500: retried with the same webhook-id, delivered once it answers 2xx' '
	receiver_mode recv 500 e500 &&
	wh_register "http://127.0.0.1:$RPORT/e500" c500 &&
	publish c500 "\"x\"" &&
	test_wait_until 10 "test \$(receiver_count recv e500) -ge 2" &&
	wh_attempts $WH_ID "o[0].status" >status &&
	test "$(cat status)" = 500 &&
	test "$(json wh-attempts.json "o[0].error")" = "HTTP 500" &&
	test "$(json wh-attempts.json "o[0].response")" = "status 500" &&
	receiver_mode recv 200 e500 &&
	test_wait_until 10 "test \"\$(wh_field $WH_ID o.cursors.c500)\" = 1" &&
	receiver_field recv id e500 | sort -u >ids &&
	echo msg_c500_1 >expect &&
	test_cmp expect ids &&
	! receiver_field recv verified e500 | grep -v true
'

test_expect_success LIGHTTPD,RECEIVER 'a receiver that does not answer times out after LOGCAST_WEBHOOK_TIMEOUT' '
	receiver_mode recv hang hang &&
	wh_register "http://127.0.0.1:$RPORT/hang" chang &&
	publish chang 1 &&
	test_wait_until 10 "test \$(wh_attempts $WH_ID o.length) -ge 1" &&
	json wh-attempts.json "o[0].error" | grep "timed out" &&
	d=$(json wh-attempts.json "o[0].duration_ms") &&
	test "$d" -ge 900 && test "$d" -lt 5000 &&
	test_measured "attempt against a hanging receiver ended after $d ms (LOGCAST_WEBHOOK_TIMEOUT=1)" &&
	receiver_mode recv 200 hang &&
	test_wait_until 10 "test \"\$(wh_field $WH_ID o.cursors.chang)\" = 1"
'

test_expect_success LIGHTTPD,RECEIVER '410 Gone disables the endpoint at once, visible in GET' '
	receiver_mode recv 410 gone &&
	wh_register "http://127.0.0.1:$RPORT/gone" cgone &&
	publish cgone 1 &&
	publish cgone 2 &&
	test_wait_until 10 "test \"\$(wh_field $WH_ID o.disabled)\" = true" &&
	json wh.json o.disabled_reason | grep "410 Gone" &&
	test "$(json wh.json o.cursors.cgone)" = 0 &&
	sleep 1.5 &&
	test "$(receiver_count recv gone)" = 1 &&
	test "$(wh_attempts $WH_ID o.length)" = 1 &&
	test "$(json wh-attempts.json "o[0].status")" = 410
'

test_expect_success LIGHTTPD,RECEIVER '301 is a failure; the redirect is not followed' '
	receiver_mode recv 301 moved &&
	wh_register "http://127.0.0.1:$RPORT/moved" cmoved &&
	publish cmoved 1 &&
	test_wait_until 10 "test \$(wh_attempts $WH_ID o.length) -ge 2" &&
	test "$(json wh-attempts.json "o[0].status")" = 301 &&
	json wh-attempts.json "o[0].error" | grep "redirects are not followed" &&
	test "$(receiver_count recv elsewhere)" = 0 &&
	test "$(wh_field $WH_ID o.cursors.cmoved)" = 0 &&
	receiver_mode recv 200 moved &&
	test_wait_until 10 "test \"\$(wh_field $WH_ID o.cursors.cmoved)\" = 1"
'

test_expect_success LIGHTTPD,RECEIVER 'an exhausted schedule disables the endpoint; POST .../retry resumes from its cursor' '
	receiver_mode recv 500 fail &&
	wh_register "http://127.0.0.1:$RPORT/fail" cfail &&
	id=$WH_ID &&
	publish cfail 1 &&
	publish cfail 2 &&
	test_wait_until 30 "test \"\$(wh_field $id o.disabled)\" = true" &&
	json wh.json o.disabled_reason | grep "gave up after 7 failed attempts" &&
	test "$(json wh.json o.failures)" = 7 &&
	test "$(wh_attempts $id o.length)" = 7 &&
	test "$(json wh-attempts.json "o.every(a => a.message_id === 1 && a.status === 500)")" = true &&
	test "$(receiver_count recv fail)" = 7 &&
	receiver_field recv t fail >times &&
	awk "NR > 1 { d = \$1 - p; if (d < 350) bad = 1 } { p = \$1 } END { exit bad }" times &&
	sleep 1 &&
	test "$(receiver_count recv fail)" = 7 &&
	receiver_mode recv 200 fail &&
	http POST "$BASE/api/webhooks/$id/retry" -H "$WH_AUTH" -d "" &&
	test_status 200 &&
	test_wait_until 10 "test \"\$(wh_field $id o.cursors.cfail)\" = 2" &&
	test "$(json wh.json o.disabled)" = false &&
	test "$(json wh.json o.failures)" = 0 &&
	test "$(json wh.json o.retry_pending)" = false &&
	receiver_field recv id fail | uniq >ids &&
	printf "msg_cfail_1\nmsg_cfail_2\n" >expect &&
	test_cmp expect ids
'

test_expect_success LIGHTTPD,RECEIVER 'Retry-After is honoured instead of the schedule' '
	receiver_mode recv retry-after:3 ra &&
	wh_register "http://127.0.0.1:$RPORT/ra" cra &&
	publish cra 1 &&
	test_wait_until 10 "test \$(receiver_count recv ra) -ge 1" &&
	receiver_mode recv 200 ra &&
	test_wait_until 10 "test \$(wh_attempts $WH_ID o.length) -ge 1" &&
	test "$(json wh-attempts.json "o[0].status")" = 503 &&
	test_wait_until 10 "test \$(receiver_count recv ra) -ge 2" &&
	receiver_field recv t ra >times &&
	gap=$(( $(sed -n 2p times) - $(sed -n 1p times) )) &&
	test_measured "second attempt after a Retry-After: 3 came $gap ms later (schedule said 500 ms)" &&
	test "$gap" -ge 2900 &&
	test_wait_until 5 "test \"\$(wh_field $WH_ID o.cursors.cra)\" = 1"
'

test_expect_success LIGHTTPD,RECEIVER 'one failing endpoint does not hold up another on the same channel' '
	receiver_mode recv 500 slowpoke &&
	wh_register "http://127.0.0.1:$RPORT/slowpoke" shared &&
	wh_register "http://127.0.0.1:$RPORT/healthy" shared &&
	for i in 1 2 3 4 5; do publish shared $i || return 1; done &&
	test_wait_until 10 "test \$(receiver_count recv healthy) -ge 5" &&
	receiver_field recv id slowpoke | sort -u >ids &&
	echo msg_shared_1 >expect &&
	test_cmp expect ids
'

test_done
