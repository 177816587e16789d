#!/bin/bash
test_description='webhooks: 50 endpoints, one of them hanging, the other 49 still receive promptly and in order'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-webhook.sh"

wh_receiver_port

test_expect_success LIGHTTPD,RECEIVER 'start a receiver and the stack; register 49 endpoints and a hanging one' '
	receiver_start recv "$RPORT" &&
	receiver_mode recv hang hang &&
	stack_start &&
	wh_register "http://127.0.0.1:$RPORT/hang" fan &&
	echo "$WH_ID" >id-hang &&
	for i in $(seq 49)
	do
		wh_register "http://127.0.0.1:$RPORT/ep/$i" fan || return 1
	done
'

test_expect_success LIGHTTPD,RECEIVER 'five messages reach the 49 promptly while the 50th hangs' '
	t0=$(now_ms) &&
	for i in 1 2 3 4 5
	do
		http POST "$BASE/api/channels/fan/messages" -d "{\"n\":$i}" &&
		test_status 201 || return 1
	done &&
	test_wait_until 30 "test \$(grep -c \"\\\"path\\\":\\\"/ep/\" \"$TRASH_DIRECTORY/recv/all.log\") -ge 245" &&
	t1=$(now_ms) &&
	last=$(node -e "
		const l = require(\"fs\").readFileSync(process.argv[1], \"utf8\").trim().split(\"\n\").map(JSON.parse);
		console.log(Math.max(...l.filter(r => r.path.startsWith(\"/ep/\")).map(r => r.t)));
	" "$TRASH_DIRECTORY/recv/all.log") &&
	test_measured "49 endpoints x 5 messages delivered $((last - t0)) ms after the first publish, one endpoint hanging" &&
	test $((last - t0)) -lt 10000 &&
	test "$(receiver_count recv hang)" = 1
'

test_expect_success LIGHTTPD,RECEIVER 'each of the 49 got 1..5 exactly once, in order, verified' '
	node -e "
		const l = require(\"fs\").readFileSync(process.argv[1], \"utf8\").trim().split(\"\n\").map(JSON.parse);
		const by = {};
		for (const r of l) if (r.path.startsWith(\"/ep/\")) (by[r.path] = by[r.path] || []).push(r);
		const want = \"msg_fan_1,msg_fan_2,msg_fan_3,msg_fan_4,msg_fan_5\";
		let bad = Object.keys(by).length !== 49;
		for (const p in by) {
			if (by[p].map(r => r.id).join() !== want || !by[p].every(r => r.verified)) {
				console.log(p, by[p].map(r => r.id).join());
				bad = true;
			}
		}
		process.exit(bad ? 1 : 0);
	" "$TRASH_DIRECTORY/recv/all.log"
'

test_expect_success LIGHTTPD,RECEIVER 'the hanging endpoint shows one attempt in flight and nothing delivered' '
	test "$(wh_field $(cat id-hang) o.cursors.fan)" = 0 &&
	test "$(json wh.json o.disabled)" = false
'

test_done
