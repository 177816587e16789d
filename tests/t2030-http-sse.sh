#!/bin/bash
test_description='Server-Sent Events: live delivery, resume by Last-Event-ID or since, keep-alives, disconnects'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/lib-http.sh"
. "$TEST_DIRECTORY/lib-sse.sh"

export LOGCAST_SSE_KEEPALIVE=1

test_expect_success LIGHTTPD 'start the stack and publish 5 messages' '
	stack_start &&
	for i in 1 2 3 4 5; do logcast append ev "{\"n\":$i}" >/dev/null || return 1; done
'

test_expect_success LIGHTTPD 'a stream without since or Last-Event-ID gets only new messages' '
	sse_start fresh "$BASE/api/channels/ev/events" &&
	test_wait_until 10 "test \"\$(health_field sse_streams)\" = 1" &&
	t0=$(now_ms) &&
	logcast append ev "{\"n\":6}" >/dev/null &&
	test_wait_until 10 "grep -q \"^id: 6\" fresh.events" &&
	test_measured "publish to SSE event: $(( $(now_ms) - t0 )) ms" &&
	sse_ids fresh >ids &&
	echo 6 >expect &&
	test_cmp expect ids &&
	grep "^data: {\"id\":6,\"channel\":\"ev\",\"time\":\"[^\"]*\",\"data\":{\"n\":6}}$" fresh.events &&
	tr -d "\r" <fresh.h | grep -i "^content-type: text/event-stream" &&
	tr -d "\r" <fresh.h | grep -i "^cache-control: no-store" &&
	tr -d "\r" <fresh.h | grep -i "^x-last-id: 5"
'

test_expect_success LIGHTTPD 'since=N replays what came after N, then goes live' '
	sse_start replay "$BASE/api/channels/ev/events?since=2" &&
	test_wait_until 10 "grep -q \"^id: 6\" replay.events" &&
	logcast append ev "{\"n\":7}" >/dev/null &&
	test_wait_until 10 "grep -q \"^id: 7\" replay.events" &&
	sse_ids replay >ids &&
	seq 3 7 >expect &&
	test_cmp expect ids
'

test_expect_success LIGHTTPD 'Last-Event-ID resumes without loss or duplicates, and wins over since' '
	sse_start first "$BASE/api/channels/ev/events?since=0" &&
	test_wait_until 10 "grep -q \"^id: 7\" first.events" &&
	sse_stop first &&
	last=$(sse_ids first | tail -n 1) &&
	for i in 8 9 10; do logcast append ev "{\"n\":$i}" >/dev/null || return 1; done &&
	sse_start second "$BASE/api/channels/ev/events?since=0" -H "Last-Event-ID: $last" &&
	test_wait_until 10 "grep -q \"^id: 10\" second.events" &&
	{ sse_ids first; sse_ids second; } >all &&
	seq 1 10 >expect &&
	test_cmp expect all
'

test_expect_success LIGHTTPD 'a quiet stream gets keep-alive comments' '
	sse_start quiet "$BASE/api/channels/quiet/events" &&
	test_wait_until 10 "test \$(grep -c \"^:\" quiet.events) -ge 2" &&
	! grep "^id:" quiet.events
'

test_expect_success LIGHTTPD 'the stream announces a reconnect delay' '
	grep "^retry: [0-9]*$" quiet.events
'

test_expect_success LIGHTTPD 'a client that goes away is released' '
	test_wait_until 10 "test \"\$(health_field sse_streams)\" = 0" &&
	sse_start gone "$BASE/api/channels/quiet/events" &&
	test_wait_until 10 "test \"\$(health_field sse_streams)\" = 1" &&
	sse_stop gone &&
	t0=$(now_ms) &&
	test_wait_until 10 "test \"\$(health_field sse_streams)\" = 0" &&
	test_measured "SSE stream released $(( $(now_ms) - t0 )) ms after its client left"
'

test_expect_success LIGHTTPD 'many messages at once arrive complete and in order' '
	sse_start burst "$BASE/api/channels/burst/events?since=0" &&
	seq 1 500 | sed "s/.*/{\"i\":&}/" | logcast append --lines burst >/dev/null &&
	test_wait_until 20 "grep -q \"^id: 500$\" burst.events" &&
	sse_ids burst >ids &&
	seq 1 500 >expect &&
	test_cmp expect ids
'

test_expect_success LIGHTTPD 'all streams are released at the end' '
	test_wait_until 10 "test \"\$(health_field sse_streams)\" = 0"
'

test_done
