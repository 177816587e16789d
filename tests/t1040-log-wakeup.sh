#!/bin/bash
test_description='wake-ups: a waiting reader wakes promptly; 500 waiting processes (past the 128 inotify instances) all wake, and cost nothing while idle'
. "$(dirname "$0")/test-lib.sh"

N=500

stat_field() {
	logcast stats "$1" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}

test_expect_success 'a reader blocked in wait wakes promptly on an append by another process' '
	logcast append wake "\"zero\"" >/dev/null &&
	{ logcast tail -f wake >one.out & } &&
	pid=$! &&
	test_when_finished "kill $pid; wait $pid; true" &&
	test_wait_until 10 "test \"\$(stat_field wake waiters)\" = 1" &&
	t0=$(now_ms) &&
	logcast append wake "\"one\"" >/dev/null &&
	test_wait_until 2 "grep -q one one.out" &&
	test_measured "append in one process to a waiting reader in another: $(( $(now_ms) - t0 )) ms"
'

test_expect_success "$N waiting processes" '
	inst=$(cat /proc/sys/fs/inotify/max_user_instances) &&
	test_measured "inotify instances per user on this machine: $inst" &&
	pids= &&
	for i in $(seq $N)
	do
		logcast tail -f many >many.$i &
		pids="$pids $!"
	done &&
	test_atexit "kill $pids 2>/dev/null" &&
	test_wait_until 60 "test \"\$(stat_field many waiters)\" -ge $N"
'

cpu_ticks() {
	local sum=0 p
	for p in $pids
	do
		set -- $(sed "s/.*) //" /proc/$p/stat 2>/dev/null)
		sum=$((sum + ${12:-0} + ${13:-0}))
	done
	echo $sum
}

test_expect_success "idle, the $N waiters use no CPU" '
	c0=$(cpu_ticks) &&
	sleep 2 &&
	c1=$(cpu_ticks) &&
	test_measured "$N idle waiters used $((c1 - c0)) CPU ticks (1/$(getconf CLK_TCK) s) in 2 s" &&
	test $((c1 - c0)) -le 5
'

test_expect_success "one append wakes all $N" '
	t0=$(now_ms) &&
	logcast append many "\"for everyone\"" >/dev/null &&
	test_wait_until 30 "test \$(grep -l \"for everyone\" many.* | wc -l) = $N" &&
	test_measured "one append reached all $N waiting processes in $(( $(now_ms) - t0 )) ms" &&
	for i in $(seq $N)
	do
		test_line_count = 1 many.$i || return 1
	done
'

test_expect_success 'the waiters can be stopped and their count goes back down' '
	kill $pids &&
	test_wait_until 30 "test \"\$(stat_field many waiters)\" = 0"
'

test_done
