# lib-stack.sh - start the real logcast stack for a test script, the way
# `make run` does (cmd/run.sh: lighttpd, its FastCGI responder, websocketd,
# the webhook watcher), on this script's own ports and data directory.
#
#	. "$TEST_DIRECTORY/lib-stack.sh"
#	stack_start || ...          # sets BASE (http://...) and WSBASE (ws://...)
#	curl "$BASE/api/health"
#	api=$(stack_api_pid)        # the logcast-api lighttpd spawned
#
# Set LOGCAST_* variables before stack_start to configure it.  The stack is
# stopped when the script ends (test_atexit), or earlier with stack_stop;
# stack_restart stops and starts it again on the same ports and data.

stack_ports_set=
stack_start() {
	if test -z "$stack_ports_set"
	then
		test_set_port PORT
		test_set_port LOGCAST_WS_PORT
		stack_ports_set=t
		test_atexit stack_stop
	fi
	export PORT LOGCAST_WS_PORT
	export LOGCAST_DATA_DIR="${LOGCAST_DATA_DIR:-$TRASH_DIRECTORY/var}"
	export LOGCAST_RUN_DIR="$RUN_DIR/stack"
	export LOGCAST_LOG_DIR="$TRASH_DIRECTORY/log"
	BASE="http://127.0.0.1:$PORT"
	WSBASE="ws://127.0.0.1:$PORT"
	export BASE WSBASE
	: >"$TRASH_DIRECTORY/run.log"
	"$TOP/cmd/run.sh" >>"$TRASH_DIRECTORY/run.log" 2>&1 &
	STACK_PID=$!
	if ! test_wait_until 30 'grep -q "running at" "$TRASH_DIRECTORY/run.log" || ! kill -0 $STACK_PID'
	then
		cat "$TRASH_DIRECTORY/run.log" >&4
		return 1
	fi
	if ! kill -0 $STACK_PID 2>/dev/null
	then
		echo "the stack did not start:" >&4
		cat "$TRASH_DIRECTORY/run.log" >&4
		return 1
	fi
}

stack_stop() {
	test -n "${STACK_PID:-}" || return 0
	kill -TERM "$STACK_PID" 2>/dev/null
	wait "$STACK_PID" 2>/dev/null
	STACK_PID=
}

# The pid of the FastCGI responder lighttpd spawned (empty if none).
stack_api_pid() {
	pgrep -P "$(cat "$LOGCAST_RUN_DIR/lighttpd.pid")" -x logcast-api
}

stack_restart() {
	stack_stop && stack_start
}
