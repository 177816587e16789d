# lib-sse.sh - read Server-Sent Events with curl in the background.
#
#	sse_start NAME URL [curl args]   # events go to NAME.events, headers to NAME.h
#	sse_ids NAME                     # the ids received, one per line
#	sse_stop NAME

sse_start() {
	local name=$1 url=$2
	shift 2
	curl -sN -D "$name.h" -H "Accept: text/event-stream" "$@" "$url" >"$name.events" &
	eval "sse_pid_$name=$!"
	test_when_finished "sse_stop $name"
}

sse_ids() {
	sed -n "s/^id: //p" "$1.events"
}

sse_stop() {
	local pid
	eval "pid=\${sse_pid_$1:-}"
	test -n "$pid" || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "sse_pid_$1="
	return 0
}
