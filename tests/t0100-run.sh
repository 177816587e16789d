#!/bin/bash
test_description='make run: starts the stack, reports where, and stops everything it started'
. "$(dirname "$0")/test-lib.sh"

test_set_port PORT
test_set_port WS
export PORT LOGCAST_WS_PORT=$WS
export LOGCAST_RUN_DIR="$RUN_DIR/run"

started_ok() {
	grep -q "running at http://127.0.0.1:$PORT/" run.log &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/api/health")" = 200 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/")" = 200
}

# the stack's processes (by name: the kernel keeps 15 characters of it,
# so logcast-dispatch is "logcast-dispatc") whose environment names this
# test's run directory, or its data directory (logcast-api gets only what
# lighttpd copies to it), into the file "ours"
ours() {
	: >ours
	for pid in $(pgrep -x "lighttpd|websocketd|logcast-api|logcast-ws|logcast-dispatc|make|run.sh")
	do
		tr "\0" "\n" <"/proc/$pid/environ" 2>/dev/null |
			grep -qx -e "LOGCAST_RUN_DIR=$LOGCAST_RUN_DIR" \
				-e "LOGCAST_DATA_DIR=$LOGCAST_DATA_DIR" &&
			echo "$pid" >>ours
	done
	return 0
}

# ours_named NAME: the pid of our process called NAME (after ours)
ours_named() {
	for p in $(cat ours); do ps -o pid= -o comm= -p $p; done |
		awk -v n="$1" "\$2 == n { print \$1 }"
}

# After each test, whatever happened: nothing of ours may outlive it (a
# stray lighttpd would hold the port and prove's output pipe).
kill_ours() {
	kill -KILL -- -"$1" 2>/dev/null
	ours
	test -s ours && kill -KILL $(cat ours) 2>/dev/null
	return 0
}

test_expect_success LIGHTTPD 'make run serves the page and the API, then SIGTERM to make stops all' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	ours && test -s ours &&
	t0=$(now_ms) &&
	kill -TERM $make_pid &&
	test_wait_until 15 "! kill -0 $make_pid" &&
	test_wait_until 10 "ours; ! test -s ours" &&
	test_measured "SIGTERM to make run until all its processes are gone: $(($(now_ms) - t0)) ms"
'

# utime + stime of PID, in clock ticks
cpu_ticks() {
	sed "s/^.*) //" "/proc/$1/stat" | awk "{ print \$12 + \$13 }"
}

test_expect_success LIGHTTPD 'while the stack runs, make run waits without using the CPU' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	ours &&
	sh=$(ours_named run.sh) &&
	test -n "$sh" &&
	c0=$(cpu_ticks $sh) &&
	sleep 2 &&
	c1=$(cpu_ticks $sh) &&
	test_measured "make run (run.sh) used $((c1 - c0)) clock ticks of CPU in 2 s of running" &&
	test $((c1 - c0)) -lt 50 &&
	kill -TERM $make_pid &&
	test_wait_until 15 "! kill -0 $make_pid" &&
	test_wait_until 10 "ours; ! test -s ours"
'

test_expect_success LIGHTTPD 'SIGTERM to its process group stops all' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	kill -TERM -- -$make_pid &&
	test_wait_until 15 "! kill -0 $make_pid" &&
	test_wait_until 10 "ours; ! test -s ours"
'

test_expect_success LIGHTTPD 'Ctrl-C (SIGINT to the process group) stops all' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	kill -INT -- -$make_pid &&
	test_wait_until 15 "! kill -0 $make_pid" &&
	test_wait_until 10 "ours; ! test -s ours"
'

test_expect_success LIGHTTPD 'a daemon that dies stops the rest at once, with a reason' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	ours &&
	wsd=$(ours_named websocketd) &&
	test -n "$wsd" &&
	t0=$(now_ms) &&
	kill -KILL $wsd &&
	test_wait_until 15 "! kill -0 $make_pid" &&
	t1=$(now_ms) &&
	test_wait_until 10 "ours; ! test -s ours" &&
	test_measured "websocketd killed until make run had stopped: $((t1 - t0)) ms" &&
	test_grep "process $wsd exited; stopping" run.log
'

test_expect_success LIGHTTPD 'a busy port is reported, not ignored' '
	(cd "$TOP" && exec setsid make -s run) >run.log 2>&1 &
	make_pid=$! &&
	test_when_finished "kill_ours $make_pid" &&
	test_wait_until 60 started_ok &&
	(cd "$TOP" && make -s run) >second.log 2>&1;
	grep "port $PORT is already in use" second.log &&
	kill -TERM -- -$make_pid &&
	test_wait_until 15 "! kill -0 $make_pid"
'

test_done
