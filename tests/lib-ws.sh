# lib-ws.sh - helpers for the WebSocket tests (t3*-ws-*.sh): drive
# tests/lib-wsclient.js against the real stack (lib-stack.sh) and find the
# logcast-ws children websocketd started for this script.
#
#	. "$TEST_DIRECTORY/lib-stack.sh"
#	. "$TEST_DIRECTORY/lib-ws.sh"
#	ws_client --expect 1 "$WSBASE/ws/news?since=0" >frames
#
# The HTTPAPI prerequisite tells whether lighttpd already routes /api/
# (tests that publish or read over HTTP skip visibly until it does).

ws_client() {
	node "$TEST_DIRECTORY/lib-wsclient.js" "$@"
}

# The same in the background; $! is then the client itself (not a
# subshell), so that killing it really drops its sockets.
ws_client_bg() {
	node "$TEST_DIRECTORY/lib-wsclient.js" "$@" &
}

# The pids of the logcast-ws processes serving this script's data
# directory (other scripts and `make run` have their own).
ws_children() {
	local p
	for p in $(pgrep -x logcast-ws)
	do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qxF "LOGCAST_DATA_DIR=$LOGCAST_DATA_DIR" && echo "$p"
	done
	return 0
}

ws_child_count() {
	ws_children | wc -l
}

# How many of them are past start-up, that is, have read the channel's
# last id and then either handed their stdout to the API's fan-out (fd 1
# is /dev/null) or, waiting by themselves, made stdin O_ASYNC (octal
# 020000 in fdinfo's flags).
ws_ready_count() {
	local p n=0 f
	for p in $(ws_children)
	do
		if test "$(readlink "/proc/$p/fd/1" 2>/dev/null)" = /dev/null; then
			n=$((n + 1))
			continue
		fi
		f=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$p/fdinfo/0" 2>/dev/null)
		test -n "$f" && test $((0$f & 020000)) != 0 && n=$((n + 1))
	done
	echo $n
}

# How many of them handed their stdout to the fan-out.
ws_handed_count() {
	local p n=0
	for p in $(ws_children)
	do
		test "$(readlink "/proc/$p/fd/1" 2>/dev/null)" = /dev/null &&
			n=$((n + 1))
	done
	echo $n
}

# The last id of a channel (0 when it has none or does not exist).
last_id() {
	local out
	out=$(logcast stats "$1" 2>/dev/null)
	case "$out" in
	*" last="[0-9]*) out=${out#* last=}; echo "${out%% *}" ;;
	*) echo 0 ;;
	esac
}

# The ids in a file of envelopes, one per line.
frame_ids() {
	sed -n 's/^{"id":\([0-9]*\),.*/\1/p' "$1"
}

# ws_wait_exit SECS: wait until this script's logcast-ws children are gone.
ws_wait_gone() {
	test_wait_until "$1" 'test "$(ws_child_count)" = 0'
}

# Publish over HTTP (the contract's POST); prints the envelope and "\n".
http_publish() {
	curl -sf -X POST --data-binary "$2" "$BASE/api/channels/$1/messages" &&
	echo
}

test_lazy_prereq HTTPAPI 'test -n "${BASE:-}" && curl -sf "$BASE/api/health"'

# Every line of a file of received frames is either an envelope (exactly
# id, channel, time, data) or {"error":"<string>"}; prints how many errors.
ws_check_frames() {
	node -e '
		const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
		if (lines.pop() !== "") throw new Error("no final newline");
		let errors = 0;
		for (const l of lines) {
			const v = JSON.parse(l);
			const k = Object.keys(v).join(",");
			if (k === "error" && typeof v.error === "string") errors++;
			else if (k !== "id,channel,time,data") throw new Error("not a frame: " + l);
		}
		console.log(errors);
	' "$1"
}

# Memory figures of a process, in kB: "<pss> <rss> <hwm>".
ws_mem() {
	local pss rss hwm
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup") &&
	rss=$(awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup") &&
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status") &&
	echo "$pss $rss $hwm"
}

# Built with AddressSanitizer (make SANITIZE=address): memory figures
# mean nothing then.
test_lazy_prereq ASAN 'ldd "$BUILD/logcast-ws" | grep -q libasan'

# Nothing of ours in websocketd's log: no line from a child (they write
# to stderr only when something is wrong), no sanitizer report, no crash.
ws_check_log() {
	local log="$TRASH_DIRECTORY/log/websocketd.log"
	test -f "$log" || return 0
	test_grep ! -a -E -e "logcast-ws:" -e "Sanitizer" -e "SUMMARY:" \
		-e "\.[ch]:[0-9]+:[0-9]+: runtime error" "$log"
}
