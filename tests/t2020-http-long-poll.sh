#!/bin/bash
test_description='HTTP long poll: immediate answers, wake-ups, timeouts, disconnects, 200 at once'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"

export LOGCAST_POLL_TIMEOUT=2   # the default timeout, shortened for the suite

test_expect_success LIGHTTPD 'start the stack' '
	stack_start &&
	logcast append lp "\"one\"" >/dev/null
'

test_expect_success LIGHTTPD 'messages after since exist: answered at once' '
	t0=$(now_ms) &&
	http GET "$BASE/api/channels/lp/poll?since=0&timeout=30" &&
	t=$(( $(now_ms) - t0 )) &&
	test_status 200 &&
	grep "^\[{\"id\":1,.*\"data\":\"one\"}\]$" out &&
	test_header X-Last-Id 1 &&
	test_measured "long poll with news answered in $t ms" &&
	test $t -lt 5000
'

test_expect_success LIGHTTPD 'a held long poll is woken by a publish from another process' '
	curl -s -D wake.h -o wake.out "$BASE/api/channels/lp/poll?since=1&timeout=60" &
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	t0=$(now_ms) &&
	logcast append lp "\"two\"" >/dev/null &&
	wait $pid &&
	t=$(( $(now_ms) - t0 )) &&
	test_measured "publish (CLI process) to long-poll answer: $t ms" &&
	test $t -lt 2000 &&
	grep "^\[{\"id\":2,.*\"data\":\"two\"}\]$" wake.out &&
	grep -i "^X-Last-Id: 2" wake.h
'

test_expect_success LIGHTTPD 'nothing new: 204 at the timeout, with the range headers' '
	t0=$(now_ms) &&
	http GET "$BASE/api/channels/lp/poll?since=2&timeout=1" &&
	t=$(( $(now_ms) - t0 )) &&
	test_status 204 &&
	test_header X-Last-Id 2 &&
	test_header X-First-Id 1 &&
	test_header Cache-Control no-store &&
	test ! -s out &&
	test_measured "timeout=1 answered 204 after $t ms" &&
	test $t -ge 900 && test $t -lt 5000
'

test_expect_success LIGHTTPD 'without since: the next message published after the request' '
	curl -s -o next.out "$BASE/api/channels/lp/poll?timeout=30" &
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	logcast append lp "\"three\"" >/dev/null &&
	wait $pid &&
	grep "^\[{\"id\":3,.*\"data\":\"three\"}\]$" next.out
'

test_expect_success LIGHTTPD 'limit bounds a long poll answer' '
	for i in 4 5 6; do logcast append lp $i >/dev/null || return 1; done &&
	http GET "$BASE/api/channels/lp/poll?since=3&limit=2" &&
	test_status 200 &&
	test "$(grep -o "{\"id\":" out | wc -l)" = 2
'

test_expect_success LIGHTTPD 'the seed route /poll: 204 after the default timeout, else the next message' '
	http GET "$BASE/poll" &&
	test_status 204 &&
	{ curl -s -o seed.out "$BASE/poll" & } &&
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	curl -s -o /dev/null -X POST -d "{\"content\":\"hi\"}" "$BASE/add" &&
	wait $pid &&
	grep "^\[{\"id\":[0-9]*,\"channel\":\"chat\",.*\"data\":{\"content\":\"hi\"}}\]$" seed.out
'

test_expect_success LIGHTTPD 'a client that goes away is released (keep-alive connection)' '
	curl -s -o /dev/null "$BASE/api/health" -o /dev/null \
		"$BASE/api/channels/lp/poll?since=100&timeout=100" &
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	kill $pid &&
	t0=$(now_ms) &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 0" &&
	test_measured "held long poll released $(( $(now_ms) - t0 )) ms after its client left (tcp-fin-propagate)"
'

test_expect_success LIGHTTPD 'on a fresh connection it is released at its timeout at the latest' '
	curl -s -o /dev/null "$BASE/api/channels/lp/poll?since=100&timeout=2" &
	pid=$! &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 1" &&
	kill $pid &&
	t0=$(now_ms) &&
	test_wait_until 10 "test \"\$(health_field held_long_polls)\" = 0" &&
	test_measured "fresh-connection long poll released $(( $(now_ms) - t0 )) ms after its client left (lighttpd may not watch a fresh connection: then at the 2 s timeout)"
'

test_expect_success LIGHTTPD '200 concurrent long polls all receive one publish' '
	last=$(logcast stats lp | sed "s/.* last=\([0-9]*\) .*/\1/") &&
	pids= &&
	for i in $(seq 200)
	do
		curl -s -o many.$i "$BASE/api/channels/lp/poll?since=$last&timeout=60" &
		pids="$pids $!"
	done &&
	test_wait_until 30 "test \"\$(health_field held_long_polls)\" = 200" &&
	t0=$(now_ms) &&
	logcast append lp "\"fan-out\"" >/dev/null &&
	wait $pids &&
	t=$(( $(now_ms) - t0 )) &&
	test_measured "200 held long polls answered $t ms after one publish" &&
	grep -l "\"data\":\"fan-out\"" many.* >got &&
	test_line_count = 200 got &&
	test "$(health_field held_long_polls)" = 0
'

# Clients that leave just as a message for them arrives, while the
# responder is busy answering a crowd on another channel: each request must
# be answered or released once (the sanitized build of this suite turns a
# touch after free into a crash, and lighttpd then starts a new responder).
test_expect_success LIGHTTPD,NODE 'clients leaving while messages arrive: the responder survives, none is left held' '
	before=$(stack_api_pid) &&
	test -n "$before" &&
	t0=$(now_ms) &&
	node "$TEST_DIRECTORY/lib-lprace.js" "127.0.0.1:$PORT" --busy 400 --leavers 100 --rounds 4 &&
	test_measured "4 rounds of 400 answered and 100 leaving: $(( $(now_ms) - t0 )) ms" &&
	test "$(stack_api_pid)" = "$before"
'

test_expect_success LIGHTTPD 'the held count is back to 0 and the responder holds no extra descriptors' '
	test "$(health_field held_long_polls)" = 0 &&
	fds=$(health_field open_fds) &&
	test_measured "responder open descriptors at rest: $fds" &&
	test "$fds" -lt 100
'

test_done
