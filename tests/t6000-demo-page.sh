#!/bin/bash
test_description='the demo page in a real browser: five panels on one channel, publishing, a burst, a server restart, keyboard use, screenshots'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/browser/lib-browser.sh"

# Generous bounds (ms) on publish -> display per panel; the figures
# themselves are printed with test_measured.  Short polling runs every
# second here (set through the page's own control), so a message may wait
# up to a whole interval.
within='{"short":6000,"long":3000,"sse":3000,"ws":3000,"webhook":10000}'
within_5s='{"short":12000,"long":3000,"sse":3000,"ws":3000,"webhook":10000}'   # the default interval

# The measured latencies of an "arrive" result, for test_measured.
latencies() {
	json_get "$1" 'Object.entries(v).map(([k, ms]) => `${k} ${ms} ms`).join(", ")'
}

# The page is served from a copy of www/ without bench.json, as in a fresh
# clone before `make bench`; a test further down adds one.
test_expect_success LIGHTTPD,BROWSER 'start the stack and open the page: every panel connects' '
	mkdir www &&
	cp -R "$TOP/www/." www/ &&
	rm -f www/bench.json &&
	export LOGCAST_WWW="$TRASH_DIRECTORY/www" &&
	stack_start &&
	logcast append chat "{\"text\":\"before the page opened\"}" >/dev/null &&
	browser_start "$BASE/" --no-bench &&
	browser_do open "{\"timeout\":30000}" >out &&
	test_measured "page loaded, all five panels connected in $(json_get out v.ms) ms"
'
test_have_prereq BROWSER || say "# no usable browser: $(browser_skip_reason)"

test_expect_success LIGHTTPD,BROWSER 'keyboard: from the top, Tab to the publish box, type, Enter publishes' '
	browser_do keyboard "{\"text\":\"typed with the keyboard\"}" >out &&
	id=$(json_get out v.id) &&
	browser_do arrive "{\"id\":$id,\"within\":$within_5s}" &&
	logcast read --since $((id - 1)) chat >got &&
	grep "\"text\":\"typed with the keyboard\"" got &&
	test_measured "the publish box is $(json_get out v.tabs) Tab presses from the top"
'

test_expect_success LIGHTTPD,BROWSER 'without bench.json the page says how to make it' '
	browser_do bench >out &&
	test "$(json_get out v.rows)" = 0 &&
	grep "make bench" out
'

test_expect_success LIGHTTPD,BROWSER 'the short-poll interval is set with the page control' '
	browser_do interval "{\"seconds\":1}"
'

test_expect_success LIGHTTPD,BROWSER 'a message published from the page reaches every panel in time' '
	browser_do publish "{\"text\":\"hello from the page\"}" >out &&
	id=$(json_get out v.id) &&
	test "$id" = $(( $(chan_last_id chat) )) &&
	browser_do arrive "{\"id\":$id,\"within\":$within}" >lat &&
	test_measured "page publish -> display: $(latencies lat)"
'

test_expect_success LIGHTTPD,BROWSER 'a message published with curl reaches every panel in time' '
	curl -sf -X POST --data-binary "{\"text\":\"from curl\"}" "$BASE/api/channels/chat/messages" >env &&
	id=$(sed -n "s/^{\"id\":\([0-9]*\),.*/\1/p" env) &&
	test -n "$id" &&
	browser_do arrive "{\"id\":$id,\"within\":$within}" >lat &&
	test_measured "curl publish -> display: $(latencies lat)"
'

test_expect_success LIGHTTPD,BROWSER 'a frame sent over the WebSocket is published and shown everywhere' '
	want=$(( $(chan_last_id chat) + 1 )) &&
	browser_do publish "{\"text\":\"over the socket\",\"via\":\"ws\"}" &&
	browser_do arrive "{\"id\":$want,\"within\":$within}" >lat &&
	logcast read --since $((want - 1)) chat >got &&
	grep "\"text\":\"over the socket\"" got &&
	test_measured "WebSocket publish -> display: $(latencies lat)"
'

test_expect_success LIGHTTPD,BROWSER 'JSON typed in the box is published byte for byte (plus sent_at)' '
	browser_do publish "{\"text\":\"{\\\"big\\\":12345678901234567890,\\\"x\\\":0.1}\",\"mode\":\"json\"}" >out &&
	id=$(json_get out v.id) &&
	logcast read --since $((id - 1)) chat >got &&
	grep "\"data\":{\"sent_at\":[0-9]*,\"big\":12345678901234567890,\"x\":0.1}}" got &&
	browser_do arrive "{\"id\":$id,\"within\":$within}"
'

test_expect_success LIGHTTPD,BROWSER 'a burst of 50 arrives complete and in order in every panel' '
	browser_do burst "{\"n\":50}" >out &&
	first=$(json_get out v.first) && last=$(json_get out v.last) &&
	test $((last - first)) = 49 &&
	t0=$(now_ms) &&
	browser_do arrive "{\"id\":$last,\"timeout\":60000}" >lat &&
	test_measured "burst of 50 published in $(json_get out v.ms) ms; last one shown: $(latencies lat)" &&
	browser_do complete >out &&
	browser_do snapshot >snap &&
	test "$(json_get snap "Object.values(v.panels).every((p) => p.burst && p.burst.got === 50 && p.burst.inOrder)")" = true &&
	test "$(json_get snap "Object.values(v.panels).every((p) => p.rows <= 60)")" = true
'

test_expect_success LIGHTTPD,BROWSER 'stopped panels resume from the last id they showed' '
	browser_do toggle >out &&
	test "$(json_get out "Object.values(v).every((s) => s === \"stopped\")")" = true &&
	for i in 1 2 3
	do
		curl -sf -X POST --data-binary "{\"text\":\"while stopped $i\"}" \
			"$BASE/api/channels/chat/messages" >/dev/null || return 1
	done &&
	want=$(chan_last_id chat) &&
	browser_do toggle &&
	browser_do arrive "{\"id\":$want,\"timeout\":30000}" &&
	browser_do complete
'

test_expect_success LIGHTTPD,BROWSER 'the server stops: every panel shows its error state' '
	browser_do phase "{\"name\":\"restart\"}" &&
	t0=$(now_ms) &&
	stack_stop &&
	browser_do state "{\"state\":\"retrying\",\"timeout\":20000}" &&
	test_measured "every panel in its error state $(( $(now_ms) - t0 )) ms after the server stopped" &&
	browser_do banner "{\"kind\":\"down\"}" >out &&
	grep "unreachable" out &&
	browser_do retries "{\"n\":3,\"timeout\":40000}" >out &&
	test_measured "every panel tried 3 more times in $(json_get out v.ms) ms (backoff)" &&
	browser_do state "{\"state\":\"retrying\",\"timeout\":5000}"
'

test_expect_success LIGHTTPD,BROWSER 'it comes back: the panels recover, and what was published meanwhile arrives once' '
	for i in 1 2 3
	do
		logcast append chat "{\"text\":\"while the server was down $i\"}" >/dev/null || return 1
	done &&
	want=$(chan_last_id chat) &&
	t0=$(now_ms) &&
	stack_start &&
	browser_do arrive "{\"id\":$want,\"timeout\":60000}" &&
	test_measured "every panel caught up $(( $(now_ms) - t0 )) ms after the restart began" &&
	browser_do state "{\"state\":\"open\",\"timeout\":30000}" &&
	browser_do complete &&
	browser_do banner "{\"kind\":\"recovered\"}" &&
	browser_do banner "{\"kind\":\"\",\"timeout\":20000}" &&
	browser_do phase "{\"name\":\"normal\"}"
'

test_expect_success LIGHTTPD,BROWSER 'after the restart, publishing works as before' '
	browser_do publish "{\"text\":\"after the restart\"}" >out &&
	id=$(json_get out v.id) &&
	browser_do arrive "{\"id\":$id,\"within\":$within}" >lat &&
	test_measured "publish -> display after the restart: $(latencies lat)" &&
	browser_do complete
'

test_expect_success LIGHTTPD,BROWSER 'another channel: messages dropped by retention show as a gap badge' '
	# no webhook endpoint listens to this channel: four panels here
	export LOGCAST_SEGMENT_RECORDS=10 LOGCAST_RETAIN=25 &&
	logcast append ret "\"first\"" >/dev/null &&
	browser_do channel "{\"name\":\"ret\"}" &&
	logcast append ret "\"seen\"" >/dev/null &&
	four="[\"short\",\"long\",\"sse\",\"ws\"]" &&
	browser_do arrive "{\"id\":2,\"panels\":$four}" &&
	browser_do toggle &&
	seq 100 | logcast append --lines ret >/dev/null &&
	browser_do toggle &&
	browser_do arrive "{\"id\":102,\"timeout\":30000,\"panels\":$four}" &&
	first=$(logcast stats ret | sed -n "s/.* first=\([0-9]*\).*/\1/p") &&
	test "$first" -gt 3 &&
	browser_do gaps >out &&
	for k in short long sse ws
	do
		test "$(json_get out "v.$k.missing")" = $((first - 3)) &&
		test "$(json_get out "v.$k.dups")" = 0 &&
		test "$(json_get out "v.$k.gaps.every((g) => g.why === \"retention\")")" = true &&
		json_get out "v.$k.shown" | grep "dropped by retention" || return 1
	done &&
	test_measured "retention kept ids $first..102; every panel shows ids 3..$((first - 1)) as dropped"
'

test_expect_success LIGHTTPD,BROWSER 'with bench.json the page shows the measured table and charts' '
	cat >www/bench.json <<-\EOF &&
	{"title":"fixture","date":"2026-01-01T00:00:00Z","peer":"Nchan","rows":[
	{"scenario":"http","case":"sse, 1000 subscribers","metric":"p99 latency","unit":"ms","logcast":9.5,"peer":10.2,"ratio":0.93,"target":"<=2.5","verdict":"met","note":null},
	{"scenario":"http","case":"long poll, 1000 subscribers","metric":"p99 latency","unit":"ms","logcast":12.1,"peer":9.4,"ratio":1.29,"target":"<=2.5","verdict":"met","note":null},
	{"scenario":"ws","case":"1000 sockets","metric":"memory per client","unit":"kB","logcast":61,"peer":18,"ratio":3.4,"target":"<=3.5","verdict":"met","note":"websocketd"}]}
	EOF
	browser_do open &&
	browser_do bench >out &&
	test "$(json_get out v.rows)" = 3 &&
	test "$(json_get out v.charts)" = 2 &&
	test "$(json_get out v.bars)" -ge 6 &&
	browser_do burst "{\"n\":12}" >out &&
	browser_do arrive "{\"id\":$(json_get out v.last)}"
'

test_expect_success LIGHTTPD,BROWSER 'screenshots at 1280x800 and 390x844, no sideways scrolling' '
	browser_do shot "{\"name\":\"t6000-1280x800\",\"width\":1280,\"height\":800}" &&
	browser_do shot "{\"name\":\"t6000-1280x800-full\",\"width\":1280,\"height\":800,\"full\":true}" &&
	browser_do shot "{\"name\":\"t6000-390x844\",\"width\":390,\"height\":844}" &&
	browser_do shot "{\"name\":\"t6000-390x844-full\",\"width\":390,\"height\":844,\"full\":true}" &&
	test_path_is_file "$BROWSER_SHOTS/t6000-390x844.png"
'

test_expect_success LIGHTTPD,BROWSER 'no uncaught exceptions, no console errors of the page its own' '
	browser_do console >out &&
	test_measured "console: $(json_get out v.messages) message(s), $(json_get out v.expected_failures) of them the browser reporting refused connections during the restart"
'

test_done
