#!/bin/bash
test_description='webhooks: destinations are checked on the address connected to (localhost refused), LOGCAST_WEBHOOK_ALLOW, retention gaps recorded as "dropped by retention"'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-webhook.sh"

test_set_port RPORT
test_set_port OTHERPORT
export LOGCAST_WEBHOOK_ALLOW="127.0.0.1:$RPORT"
export LOGCAST_RETAIN=4 LOGCAST_SEGMENT_RECORDS=4
# Three retries: a slow (sanitized) run may already retry the refused
# endpoint in the dispatch of the test after the refusal, and with a
# single retry that second refusal would exhaust the schedule and
# disable the endpoint before the test that allows it.
export LOGCAST_WEBHOOK_SCHEDULE=1s,1s,1s
export LOGCAST_WEBHOOK_DISPATCH=0

test_expect_success LIGHTTPD,RECEIVER 'start receivers and the stack (retain 4, segments of 4)' '
	receiver_start recv "$RPORT" "$OTHERPORT" &&
	stack_start
'

test_expect_success LIGHTTPD,RECEIVER 'a host name resolving to loopback is refused when connecting, and says why' '
	wh_register "http://localhost:$OTHERPORT/refused" lo &&
	id=$WH_ID &&
	logcast append lo 1 >/dev/null &&
	dispatch --once &&
	test "$(receiver_count recv refused)" = 0 &&
	wh_attempts $id "o[0].error" >err &&
	grep "refused destination" err &&
	grep "loopback" err &&
	grep "LOGCAST_WEBHOOK_ALLOW" err &&
	test "$(json wh-attempts.json "o[0].status")" = null &&
	test "$(wh_field $id o.cursors.lo)" = 0 &&
	echo $id >id-lo
'

test_expect_success LIGHTTPD,RECEIVER 'an allowed address:port is reached through a host name too' '
	wh_register "http://localhost:$RPORT/byname" byname &&
	logcast append byname 1 >/dev/null &&
	dispatch --once &&
	test "$(receiver_count recv byname)" = 1 &&
	test "$(receiver_field recv verified byname)" = true
'

# one --once run as soon as the refused attempt is due again (1 s +-20 %
# after it failed, which a slow or sanitized run may have reached late)
allowed_once() {
	LOGCAST_WEBHOOK_ALLOW=127.0.0.0/8 dispatch --once &&
	test "$(receiver_count recv refused)" = 1
}

test_expect_success LIGHTTPD,RECEIVER 'a CIDR in LOGCAST_WEBHOOK_ALLOW lets the refused one through' '
	sleep 1.2 &&
	test_wait_until 10 allowed_once &&
	test "$(wh_field $(cat id-lo) o.cursors.lo)" = 1
'

test_expect_success 'a bad LOGCAST_WEBHOOK_ALLOW or schedule stops the dispatcher with a reason' '
	LOGCAST_WEBHOOK_ALLOW="127.0.0.1/40" test_expect_code 1 "$BUILD/logcast-dispatch" --once 2>err &&
	grep "LOGCAST_WEBHOOK_ALLOW" err &&
	LOGCAST_WEBHOOK_SCHEDULE="5s,soon" test_expect_code 1 "$BUILD/logcast-dispatch" --once 2>err &&
	grep "LOGCAST_WEBHOOK_SCHEDULE" err &&
	LOGCAST_WEBHOOK_TIMEOUT=0 test_expect_code 1 "$BUILD/logcast-dispatch" --once 2>err &&
	grep "LOGCAST_WEBHOOK_TIMEOUT" err &&
	test_expect_code 2 "$BUILD/logcast-dispatch" 2>err &&
	test_expect_code 2 "$BUILD/logcast-dispatch" --once --watch 2>err
'

test_expect_success LIGHTTPD,RECEIVER 'a cursor behind the retained range: the gap is a failed attempt "dropped by retention", then delivery goes on' '
	wh_register "http://127.0.0.1:$RPORT/ret" ret &&
	id=$WH_ID &&
	for i in $(seq 20); do logcast append ret "$i" >/dev/null || return 1; done &&
	curl -s "$BASE/api/channels" >channels &&
	first=$(json channels "o.find(c => c.channel === \"ret\").first_id") &&
	test "$first" -gt 1 &&
	dispatch --once &&
	wh_attempts $id "o.find(a => a.skipped).error" >err &&
	grep "dropped by retention: messages 1..$((first - 1)) of channel ret" err &&
	test "$(json wh-attempts.json "o.find(a => a.skipped).ok")" = false &&
	test "$(json wh-attempts.json "o.find(a => a.skipped).skipped.last")" = $((first - 1)) &&
	receiver_field recv id ret >ids &&
	for i in $(seq $first 20); do echo msg_ret_$i; done >expect &&
	test_cmp expect ids &&
	test "$(wh_field $id o.cursors.ret)" = 20 &&
	test "$(json wh.json o.disabled)" = false &&
	test "$(json wh.json o.failures)" = 0
'

test_expect_success LIGHTTPD,RECEIVER 'a gap that opens while an endpoint is failing is recorded too' '
	receiver_mode recv 500 ret2 &&
	wh_register "http://127.0.0.1:$RPORT/ret2" ret2 &&
	id=$WH_ID &&
	logcast append ret2 1 >/dev/null &&
	dispatch --once &&
	test "$(receiver_count recv ret2)" = 1 &&
	for i in $(seq 2 20); do logcast append ret2 "$i" >/dev/null || return 1; done &&
	receiver_mode recv 200 ret2 &&
	sleep 1.3 &&
	dispatch --once &&
	wh_attempts $id "o.filter(a => a.skipped).length" >n &&
	test "$(cat n)" = 1 &&
	json wh-attempts.json "o.find(a => a.skipped).error" | grep "dropped by retention: messages 1\.\." &&
	test "$(wh_field $id o.cursors.ret2)" = 20
'

test_done
