#!/bin/bash
# ws.sh - WebSocket fan-out: logcast (lighttpd -> websocketd -> one
# logcast-ws per socket, started with cmd/run.sh) against nginx + Nchan
# websockets (bench/nchan.conf), interleaved in one run.
#
#	bench/ws.sh                   what `make bench` runs
#	QUICK=1 bench/ws.sh           one repetition, fewer rounds
#	CLIENTS=4000 REPS=5 bench/ws.sh
#
# Every case is one fanout run (bench/fanout.c --mode ws) against a fresh
# server: N sockets on channel "bench" (logcast: /ws/bench?since=<last
# id>), connected in paced batches (200 every 300 ms: websocketd spends a
# socket and 3 pipes per connection and answers 101 before it forks, so
# thousands at once exhaust the 20,000-file limit; it tops out near
# 4,900).  For logcast each batch also waits until websocketd has started
# the batch's processes (fanout --await-children): on a busy machine
# launches fall behind the 101s, and with ~8 fds per launch in flight
# websocketd then runs out of descriptors and drops sockets after their
# 101.  Then R messages are published over HTTP, each to reach every
# socket.  Reported as medians over REPS repetitions:
#
#   p50/p99/max  publish -> delivery; target: p99 <= 3.5 x Nchan at 1,000
#                sockets, <= 5.5 x at 4,000
#   memory       per connection, with all sockets open, before round 1:
#                PSS of lighttpd (+ its logcast-api) + websocketd + every
#                logcast-ws, (held - idle) / N; target <= 200 KB.  Also
#                their RSS (which counts shared pages once per process)
#                and what the kernel spends per process beyond that
#                (page tables, VmPTE, and a 16 KB kernel stack per
#                thread).  Nchan: nginx master + workers, the same way.
#   CPU          all those processes, first publish to last delivery, per
#                delivery
#
# And a burst: 1,000 sockets connecting at once (no pacing) must all get
# a working socket: every one receives every message of 3 rounds.
#
# Environment (defaults): CLIENTS="1000 4000", REPS=3 (QUICK: 1),
# ROUNDS=20 (QUICK: 5), BURST=1000 (0: skip), BENCH_PORT=31300 (logcast
# on it, websocketd on +1, nginx on +10).  Exit status 1 when a delivery
# was missing or a server could not start.
set -u
. "$(dirname "$0")/lib.sh"

: "${QUICK:=}"
if test -n "$QUICK"; then
	: "${REPS:=1}" "${ROUNDS:=5}"
else
	: "${REPS:=3}" "${ROUNDS:=20}"
fi
: "${CLIENTS:=1000 4000}"
: "${BURST:=1000}"
: "${BENCH_PORT:=31300}"
LC_PORT=$BENCH_PORT
NCHAN_PORT=$((BENCH_PORT + 10))
SC=ws

command -v nginx >/dev/null || bench_die "nginx is missing: apt-get install nginx-light libnginx-mod-nchan"
command -v websocketd >/dev/null || bench_die "websocketd is missing: apt-get install websocketd"
test -x "$LOGCAST_ROOT/build/logcast-ws" || bench_die "build/logcast-ws is missing: run make first"
bench_nofile
FANOUT=$(bench_build_fanout) || bench_die "cannot build fanout"
bench_results_init ws
trap 'bench_cleanup' EXIT
trap 'exit 130' INT TERM HUP

status=0
ncases=0
total=$(( $(echo $CLIENTS | wc -w) * 2 * REPS ))
test "$BURST" -gt 0 && total=$((total + 2))

# one_case TARGET N REP [fanout options]
one_case() {
	local target=$1 n=$2 rep=$3 bg d0 d1 rc f pids port path pub case
	shift 3
	case="$n sockets"
	case " $* " in *" --batch $n "*) case="$n at once" ;; esac
	ncases=$((ncases + 1))
	f=$BENCH_OUT/$SC-${case// /-}-$target-$rep
	bench_say "$SC: $case, $target, repetition $rep (case $ncases/$total)"
	bg=$(bench_busy_pct 1)
	d0=$(bench_listen_drops)
	if test "$target" = logcast; then
		lc_start "$LC_PORT"
		pids=$LC_LIGHTTPD,$LC_WSD port=$LC_PORT
		path=/ws/bench pub=/api/channels/bench/messages
		set -- "$@" --await-children
	else
		nchan_start "$NCHAN_PORT"
		pids=$NCHAN_PID port=$NCHAN_PORT path=/sub/bench pub=/pub/bench
	fi
	bench_bg "$FANOUT" --target "$target" --mode ws --clients "$n" \
		--port "$port" --path "$path" --publish-path "$pub" \
		--publish-body '{"bench":true}' --rss-pids "$pids" --rss-tree \
		--json "$@" >"$f.json" 2>"$f.log"
	rc=$?
	if test "$target" = logcast; then
		LC_KEEP_LOGS=$f.logs lc_stop
	else
		cp "$NCHAN_DIR/logs/error.log" "$f.nginx-error.log" 2>/dev/null
		nchan_stop
	fi
	d1=$(bench_listen_drops)
	test -s "$f.json" || echo '{}' >"$f.json"
	# shellcheck disable=SC2046
	bench_run_row "$SC" "$case" "$target" "$rep" "$bg" \
		$(bench_fanout_fields "$f.json") $((d1 - d0)) "${f##*/}.json" \
		"$(bench_json_num p99_warm "$f.json")"
	test $rc -eq 0 || sed 's/^/    /' "$f.log" >&2
	sed -n 's/^  \(delivered\|latency\|cpu s\|server\)/    \1/p' "$f.log" >&2
}

size_opts() {
	if test "$1" -gt 2000; then
		echo "--rounds $ROUNDS --batch 200 --batch-gap-ms 300 --settle-ms 1000 --round-gap-ms 300"
	else
		echo "--rounds $ROUNDS --batch 200 --batch-gap-ms 300 --settle-ms 1000 --round-gap-ms 300"
	fi
}

for rep in $(seq 1 "$REPS"); do
	for n in $CLIENTS; do
		# shellcheck disable=SC2046
		if test $((rep % 2)) = 1; then
			one_case logcast "$n" "$rep" $(size_opts "$n")
			one_case nchan "$n" "$rep" $(size_opts "$n")
		else
			one_case nchan "$n" "$rep" $(size_opts "$n")
			one_case logcast "$n" "$rep" $(size_opts "$n")
		fi
	done
done
if test "$BURST" -gt 0; then
	for t in logcast nchan; do
		one_case $t "$BURST" 1 --rounds 3 --batch "$BURST" --settle-ms 2000 --round-gap-ms 300
	done
fi

# ------------------------------------------------------------- summary
declare -A burst
target_for() {
	if test "$1" -gt 2000; then echo "<=5.5"; else echo "<=3.5"; fi
}
for n in $CLIENTS; do
	c="$n sockets"
	m() { bench_runs_median "$c" "$1" "$2"; }
	bench_delivery_rows $SC "$c" "$(target_for "$n")" || status=1
	bench_row $SC "$c" "PSS per connection (lighttpd + websocketd + logcast-ws)" KB \
		"$(m logcast pss_kb_per_client)" "$(m nchan pss_kb_per_client)" "abs:<=200" \
		"runs: $(bench_runs_list "$c" logcast pss_kb_per_client); Nchan: nginx master + workers"
	bench_row $SC "$c" "RSS per connection (shared pages counted per process)" KB \
		"$(m logcast rss_kb_per_client)" "$(m nchan rss_kb_per_client)"
	bench_row $SC "$c" "kernel per connection (page tables + 16 KB stack per thread)" KB \
		"$(m logcast kernel_kb_per_client)" "$(m nchan kernel_kb_per_client)" "" \
		"not in PSS or RSS"
	bench_row $SC "$c" "server CPU per delivery" us \
		"$(m logcast us_per_delivery)" "$(m nchan us_per_delivery)"
done
if test "$BURST" -gt 0; then
	c="$BURST at once"
	for t in logcast nchan; do
		d=$(bench_runs_sum "$c" $t delivered)
		e=$(bench_runs_sum "$c" $t expected)
		err=$(bench_runs_sum "$c" $t errors)
		if test "$d" = "$e" && test "$err" = 0 && test "$e" != 0; then
			burst[$t]=all
		else
			burst[$t]="delivered $d/$e, errors $err"
			test $t = logcast && status=1
		fi
	done
	bench_row $SC "$c (no pacing)" "every socket works (3 rounds)" "" \
		"${burst[logcast]}" "${burst[nchan]}" "" \
		"p99 $(bench_runs_median "$c" logcast p99_ms) ms vs $(bench_runs_median "$c" nchan p99_ms) ms; see $SC-$BURST-at-once-*.log"
fi

echo >&2
bench_table "$BENCH_ROWS" $SC >&2
echo "results in $BENCH_OUT" >&2
exit $status
