#!/bin/bash
test_description='the demo page against a server with LOGCAST_PUBLISH_TOKEN: a refused publish asks for the token, then HTTP and WebSocket publishes work'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-stack.sh"
. "$TEST_DIRECTORY/browser/lib-browser.sh"

export LOGCAST_PUBLISH_TOKEN=demo-token-6010

# (--no-bench: www/bench.json exists only after `make bench`; its 404 is
# expected until then)

test_expect_success LIGHTTPD,BROWSER 'start a stack that wants a publish token, open the page' '
	stack_start &&
	browser_start "$BASE/" --no-bench &&
	browser_do open &&
	browser_do shown "{\"selector\":\"#token-row\"}" >out &&
	test "$(json_get out v.shown)" = false
'
test_have_prereq BROWSER || say "# no usable browser: $(browser_skip_reason)"

test_expect_success LIGHTTPD,BROWSER 'a publish without the token is refused and the token field appears' '
	browser_do phase "{\"name\":\"refused\"}" &&
	browser_do publish "{\"text\":\"no token\",\"refused\":true}" >out &&
	grep "401" out &&
	grep "publish token" out &&
	browser_do shown "{\"selector\":\"#token-row\"}" >out &&
	test "$(json_get out v.shown)" = true &&
	test "$(chan_last_id chat)" = 0
'

test_expect_success LIGHTTPD,BROWSER 'with the token, HTTP publishes reach every panel' '
	browser_do phase "{\"name\":\"normal\"}" &&
	browser_do fill "{\"selector\":\"#token\",\"value\":\"$LOGCAST_PUBLISH_TOKEN\"}" &&
	browser_do publish "{\"text\":\"with the token\"}" >out &&
	id=$(json_get out v.id) &&
	browser_do arrive "{\"id\":$id,\"timeout\":20000}"
'

test_expect_success LIGHTTPD,BROWSER 'the WebSocket reconnects with ?token= and its frames publish' '
	want=$(( $(chan_last_id chat) + 1 )) &&
	browser_do state "{\"state\":\"open\"}" &&
	browser_do publish "{\"text\":\"over the socket, with the token\",\"via\":\"ws\"}" &&
	browser_do arrive "{\"id\":$want,\"timeout\":20000}" &&
	browser_do complete &&
	logcast read --since $((want - 1)) chat >got &&
	grep "over the socket, with the token" got
'

test_expect_success LIGHTTPD,BROWSER 'the token is in no log of ours' '
	! grep -r -F "$LOGCAST_PUBLISH_TOKEN" "$TRASH_DIRECTORY/log" "$LOGCAST_DATA_DIR" 2>/dev/null | grep -v "^Binary"
'

test_expect_success LIGHTTPD,BROWSER 'no console errors but the expected 401' '
	browser_do console
'

test_done
