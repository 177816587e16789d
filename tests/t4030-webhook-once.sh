#!/bin/bash
test_description='webhooks: logcast-dispatch --once (cron), the dispatch lock, SIGTERM and SIGKILL mid-batch lose nothing'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-webhook.sh"

wh_receiver_port
export LOGCAST_WEBHOOK_SCHEDULE=2s,2s,2s
# the stack without its watcher: this script runs the dispatcher itself
export LOGCAST_WEBHOOK_DISPATCH=0

# ids_once NAME LOG: every webhook-id the receiver got exactly once, in
# the order of their first arrival; dups get the repeated ones
ids_check() {
	receiver_field recv id "$1" >all-ids &&
	awk "!seen[\$0]++" all-ids >first-ids &&
	sort all-ids | uniq -d >dups
}

test_expect_success LIGHTTPD,RECEIVER 'start a receiver and the stack without a dispatcher' '
	receiver_start recv "$RPORT" &&
	stack_start &&
	test_path_is_missing "$TRASH_DIRECTORY/log/dispatch.log"
'

test_expect_success LIGHTTPD,RECEIVER '--once delivers what is due, then exits' '
	wh_register "http://127.0.0.1:$RPORT/a" once &&
	for i in 1 2 3 4 5; do logcast append once "$i" >/dev/null || return 1; done &&
	t0=$(now_ms) &&
	dispatch --once &&
	t1=$(now_ms) &&
	test_measured "--once pass delivering 5 messages took $((t1 - t0)) ms" &&
	receiver_field recv id a >ids &&
	for i in 1 2 3 4 5; do echo msg_once_$i; done >expect &&
	test_cmp expect ids &&
	test "$(wh_field $WH_ID o.cursors.once)" = 5 &&
	dispatch --once &&
	test "$(receiver_count recv a)" = 5
'

test_expect_success LIGHTTPD,RECEIVER '--once never sleeps through the schedule; the next run takes what is due' '
	receiver_mode recv 500 b &&
	wh_register "http://127.0.0.1:$RPORT/b" sched &&
	id=$WH_ID &&
	logcast append sched 1 >/dev/null &&
	t0=$(now_ms) &&
	dispatch --once &&
	t1=$(now_ms) &&
	test $((t1 - t0)) -lt 1500 &&
	test "$(receiver_count recv b)" = 1 &&
	json_next=$(wh_field $id o.next_attempt_at) &&
	echo "$json_next" | grep "^20" &&
	dispatch --once &&
	test "$(receiver_count recv b)" = 1 &&
	receiver_mode recv 200 b &&
	sleep 2.6 &&
	dispatch --once &&
	test "$(receiver_count recv b)" = 2 &&
	test "$(wh_field $id o.cursors.sched)" = 1 &&
	test "$(json wh.json o.failures)" = 0
'

test_expect_success LIGHTTPD,RECEIVER 'two --once runs started together never deliver a message twice' '
	receiver_mode recv slow:20 c &&
	wh_register "http://127.0.0.1:$RPORT/c" pair &&
	for i in $(seq 40); do logcast append pair "$i" >/dev/null || return 1; done &&
	: >"$TRASH_DIRECTORY/dispatch.log" &&
	{ dispatch --once & p1=$!; } &&
	{ dispatch --once & p2=$!; } &&
	wait $p1 && wait $p2 &&
	test "$(receiver_count recv c)" = 40 &&
	ids_check c &&
	test_line_count = 40 first-ids &&
	test_line_count = 0 dups &&
	grep "another dispatcher is running" "$TRASH_DIRECTORY/dispatch.log"
'

test_expect_success LIGHTTPD,RECEIVER '--once beside a running --watch does nothing; the watcher stops cleanly on SIGTERM' '
	dispatch_bg --watch &&
	test_wait_until 5 "grep -q watching \"$TRASH_DIRECTORY/dispatch.log\"" &&
	: >"$TRASH_DIRECTORY/dispatch.log" &&
	dispatch --once &&
	grep "another dispatcher is running" "$TRASH_DIRECTORY/dispatch.log" &&
	dispatch_stop TERM &&
	test "$DISPATCH_RC" = 0 &&
	grep "stopped" "$TRASH_DIRECTORY/dispatch.log"
'

test_expect_success LIGHTTPD,RECEIVER 'SIGTERM mid-batch: the attempt in flight is abandoned, its cursor stays, nothing is lost' '
	receiver_mode recv slow:300 t &&
	wh_register "http://127.0.0.1:$RPORT/t" term &&
	id=$WH_ID &&
	for i in 1 2 3 4 5; do logcast append term "$i" >/dev/null || return 1; done &&
	dispatch_bg --watch &&
	test_wait_until 10 "test \$(receiver_count recv t) -ge 2" &&
	dispatch_stop TERM &&
	test "$DISPATCH_RC" = 0 &&
	got=$(receiver_count recv t) &&
	cursor=$(json "$LOGCAST_DATA_DIR/webhooks/state/$id.json" o.cursors.term) &&
	test "$cursor" -le "$got" && test "$cursor" -ge $((got - 1)) &&
	receiver_mode recv 200 t &&
	dispatch --once &&
	ids_check t &&
	for i in 1 2 3 4 5; do echo msg_term_$i; done >expect &&
	test_cmp expect first-ids &&
	test "$(wh_field $id o.cursors.term)" = 5
'

test_expect_success LIGHTTPD,RECEIVER 'SIGKILL mid-batch and a restart: nothing lost, in order, duplicates only near the crash' '
	receiver_mode recv slow:10 k &&
	wh_register "http://127.0.0.1:$RPORT/k" crash &&
	id=$WH_ID &&
	for i in $(seq 200); do echo "{\"i\":$i}"; done >msgs &&
	while read -r m; do logcast append crash "$m" >/dev/null || return 1; done <msgs &&
	dispatch_bg --watch &&
	test_wait_until 20 "test \$(receiver_count recv k) -ge 60" &&
	dispatch_stop KILL &&
	before=$(receiver_count recv k) &&
	cursor=$(json "$LOGCAST_DATA_DIR/webhooks/state/$id.json" o.cursors.crash) &&
	test "$cursor" -le "$before" &&
	dispatch_bg --watch &&
	test_wait_until 30 "test \"\$(wh_field $id o.cursors.crash)\" = 200" &&
	dispatch_stop TERM &&
	ids_check k &&
	for i in $(seq 200); do echo msg_crash_$i; done >expect &&
	test_cmp expect first-ids &&
	total=$(receiver_count recv k) &&
	test_measured "SIGKILL after $before deliveries (durable cursor then $cursor): $((total - 200)) delivered twice, none lost" &&
	test $((total - 200)) -le $((before - cursor)) &&
	! receiver_field recv verified k | grep -v true
'

test_expect_success LIGHTTPD,RECEIVER 'SIGTERM while delivering flat out: it stops at once, and the rest follows later' '
	wh_register "http://127.0.0.1:$RPORT/flat" flat &&
	id=$WH_ID &&
	seq 3000 | sed "s/.*/{\"n\":&}/" >msgs &&
	while read -r m; do logcast append flat "$m" >/dev/null || return 1; done <msgs &&
	dispatch_bg --watch &&
	test_wait_until 20 "test \$(receiver_count recv flat) -ge 300" &&
	t0=$(now_ms) &&
	dispatch_stop TERM &&
	t1=$(now_ms) &&
	test "$DISPATCH_RC" = 0 &&
	test_measured "SIGTERM in the middle of 3000 deliveries: exited after $((t1 - t0)) ms" &&
	test $((t1 - t0)) -lt 2000 &&
	got=$(receiver_count recv flat) &&
	test "$got" -lt 3000 &&
	cursor=$(json "$LOGCAST_DATA_DIR/webhooks/state/$id.json" o.cursors.flat) &&
	test "$cursor" -le "$got" && test "$cursor" -ge $((got - 1)) &&
	dispatch --once &&
	ids_check flat &&
	test_line_count = 3000 first-ids &&
	test_line_count -le 1 dups &&
	# only the attempt in flight at the signal may come twice
	{ test ! -s dups || test "$(cat dups)" = "msg_flat_$((cursor + 1))"; }
'

test_expect_success LIGHTTPD,RECEIVER 'the dispatcher holds no lock after it exits' '
	flock -n "$LOGCAST_DATA_DIR/webhooks/dispatch.lock" true
'

test_done
