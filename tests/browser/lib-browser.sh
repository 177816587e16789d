# lib-browser.sh - drive a real browser (headless Chromium from Debian,
# through playwright-core from tests/node_modules) on the demo page, from
# a shell test.  tests/browser/driver.js keeps the browser open between
# tests and runs one step per browser_do.
#
#	. "$TEST_DIRECTORY/browser/lib-browser.sh"
#	test_expect_success BROWSER '...' '
#		browser_start "$BASE/" &&
#		browser_do open &&
#		browser_do publish "{\"text\":\"hi\"}" >out
#	'
#
# BROWSER is a lazy prerequisite: Node.js >= 20, playwright-core and
# /usr/bin/chromium, and Chromium must really start; when it does not,
# browser_skip_reason says why.  Screenshots go to
# tests/results/screenshots/ (kept after the run, unlike the trash).

BROWSER_SHOTS="$TEST_DIRECTORY/results/screenshots"

test_lazy_prereq BROWSER '
	node "$TEST_DIRECTORY/browser/driver.js" --probe \
		>"$TRASH_DIRECTORY/browser-probe.out" 2>&1
'

# Why BROWSER is missing (after test_have_prereq said so).
browser_skip_reason() {
	if ! command -v node >/dev/null
	then
		echo "node is not installed"
	else
		tail -n 1 "$TRASH_DIRECTORY/browser-probe.out" 2>/dev/null
	fi
}

# browser_start URL [driver options]: start the driver; it opens nothing
# until the "open" step.
browser_start() {
	test -n "${BROWSER_PORT:-}" || test_set_port BROWSER_PORT
	node "$TEST_DIRECTORY/browser/driver.js" --port "$BROWSER_PORT" --url "$1" \
		--profile "$TRASH_DIRECTORY/chromium-profile" --shots "$BROWSER_SHOTS" \
		"${@:2}" >"$TRASH_DIRECTORY/browser.log" 2>&1 &
	BROWSER_PID=$!
	test_atexit browser_stop
	test_wait_until 60 'grep -q "listening on" "$TRASH_DIRECTORY/browser.log" || ! kill -0 $BROWSER_PID' &&
	kill -0 $BROWSER_PID 2>/dev/null || {
		cat "$TRASH_DIRECTORY/browser.log" >&4
		return 1
	}
}

# browser_do STEP [JSON]: run one step (see driver.js); its JSON result
# on stdout, or its reason on stderr and a failure.
browser_do() {
	local out status body=${2-}
	test -n "$body" || body='{}'
	out=$(curl -s --max-time 180 -w '\n%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$body" "http://127.0.0.1:$BROWSER_PORT/$1")
	status=${out##*$'\n'}
	out=${out%$'\n'*}
	if test "$status" != 200
	then
		echo "browser: ${out:-the driver did not answer (HTTP $status)}" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

browser_stop() {
	test -n "${BROWSER_PID:-}" || return 0
	curl -s --max-time 10 -d '{}' "http://127.0.0.1:$BROWSER_PORT/quit" >/dev/null 2>&1
	for _ in 1 2 3 4 5 6 7 8 9 10
	do
		kill -0 "$BROWSER_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill "$BROWSER_PID" 2>/dev/null
	wait "$BROWSER_PID" 2>/dev/null
	BROWSER_PID=
}

# json_get FILE EXPR: a value from a JSON file, EXPR in JavaScript over v.
json_get() {
	node -e '
		const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const r = (0, eval)("(v) => " + process.argv[2])(v);
		console.log(typeof r === "object" ? JSON.stringify(r) : r);
	' "$1" "$2"
}

# The last id of a channel, from the log itself (0: none yet).
chan_last_id() {
	local id
	id=$(logcast stats "$1" 2>/dev/null | sed -n 's/.* last=\([0-9]*\).*/\1/p')
	echo "${id:-0}"
}
