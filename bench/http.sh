#!/bin/bash
# http.sh - long-poll and Server-Sent Events fan-out: logcast (lighttpd +
# the logcast-api FastCGI responder, started with cmd/run.sh) against
# nginx + Nchan (bench/nchan.conf), interleaved in one run.
#
#	bench/http.sh                      what `make bench` runs
#	QUICK=1 bench/http.sh              one repetition, fewer rounds
#	MODES=sse CLIENTS=8000 REPS=5 bench/http.sh
#
# Every case is one fanout run (bench/fanout.c) against a fresh server:
# N subscribers of channel "bench", then R messages published one at a
# time; each must reach every subscriber.  Reported per case, as medians
# over REPS repetitions (logcast and Nchan alternate, so drift of the
# machine hits both):
#
#   p50/p99/max  publish -> delivery, pooled over subscribers and rounds;
#                target: logcast's p99 <= 2.5 x Nchan's
#   memory       (peak RSS - idle RSS) / N, summed over lighttpd +
#                logcast-api (Nchan: nginx master + workers); "peak" is
#                the sum of each process's VmHWM at the end of the run;
#                target <= 3.5 x Nchan.  Also RSS and PSS with all
#                subscribers held, before the first message.
#   CPU          server CPU (utime+stime of those processes) from the first
#                publish to the last delivery, per delivery
#
# 8,000 subscribers: the per-process fd hard limit here is 20,000 and
# lighttpd spends 2 per held client, so they connect in paced batches
# (500 every 200 ms) and get 2 s to settle; fanout needs ~8,100 fds.
#
# Environment (defaults): MODES="longpoll sse", CLIENTS="1000 8000",
# REPS=3 (QUICK: 1), ROUNDS=20 for N <= 2000 and ROUNDS_LARGE=10 above
# (QUICK: 5 and 3), BENCH_PORT=31100 (logcast on it, websocketd on +1,
# nginx on +10).  Results: $BENCH_OUT (rows.tsv, runs.tsv, each run's
# fanout JSON and log).  Exit status 1 when a delivery was missing or a
# server could not start; slowness is reported, never a failure.
set -u
. "$(dirname "$0")/lib.sh"

: "${QUICK:=}"
if test -n "$QUICK"; then
	: "${REPS:=1}" "${ROUNDS:=5}" "${ROUNDS_LARGE:=3}"
else
	: "${REPS:=3}" "${ROUNDS:=20}" "${ROUNDS_LARGE:=10}"
fi
: "${MODES:=longpoll sse}"
: "${CLIENTS:=1000 8000}"
: "${BENCH_PORT:=31100}"
LC_PORT=$BENCH_PORT
NCHAN_PORT=$((BENCH_PORT + 10))
SC=http

command -v nginx >/dev/null || bench_die "nginx is missing: apt-get install nginx-light libnginx-mod-nchan"
test -x "$LOGCAST_ROOT/build/logcast-api" || bench_die "build/logcast-api is missing: run make first"
bench_nofile
FANOUT=$(bench_build_fanout) || bench_die "cannot build fanout"
bench_results_init http
trap 'bench_cleanup' EXIT
trap 'exit 130' INT TERM HUP

# fanout options by size: connection pacing, settle time, rounds, gaps
size_opts() {
	if test "$1" -gt 2000; then
		echo "--rounds $ROUNDS_LARGE --batch 500 --batch-gap-ms 200 --settle-ms 2000 --round-gap-ms 1000"
	else
		echo "--rounds $ROUNDS --batch 500 --settle-ms 500 --round-gap-ms 300"
	fi
}

status=0
ncases=0
total=$(( $(echo $MODES | wc -w) * $(echo $CLIENTS | wc -w) * 2 * REPS ))

one_case() {
	local target=$1 mode=$2 n=$3 rep=$4 bg d0 d1 rc f pids port path pub
	local case="$mode $n"
	ncases=$((ncases + 1))
	f=$BENCH_OUT/$SC-$mode-$n-$target-$rep
	bench_say "$SC: $mode, $n subscribers, $target, repetition $rep/$REPS (case $ncases/$total)"
	bg=$(bench_busy_pct 1)
	d0=$(bench_listen_drops)
	if test "$target" = logcast; then
		lc_start "$LC_PORT"
		pids=$LC_LIGHTTPD,$LC_API port=$LC_PORT
		pub=/api/channels/bench/messages
		if test "$mode" = longpoll; then
			path=/api/channels/bench/poll
		else
			path=/api/channels/bench/events
		fi
	else
		nchan_start "$NCHAN_PORT"
		pids=$(nchan_pids) port=$NCHAN_PORT path=/sub/bench pub=/pub/bench
	fi
	# shellcheck disable=SC2046
	bench_bg "$FANOUT" --target "$target" --mode "$mode" --clients "$n" \
		--port "$port" --path "$path" --publish-path "$pub" \
		--publish-body '{"bench":true}' --rss-pids "$pids" --json \
		$(size_opts "$n") >"$f.json" 2>"$f.log"
	rc=$?
	if test "$target" = logcast; then
		LC_KEEP_LOGS=$f.logs lc_stop
	else
		cp "$NCHAN_DIR/logs/error.log" "$f.nginx-error.log" 2>/dev/null
		nchan_stop
	fi
	d1=$(bench_listen_drops)
	if ! test -s "$f.json"; then
		echo '{}' >"$f.json"
	fi
	# shellcheck disable=SC2046
	bench_run_row "$SC" "$case" "$target" "$rep" "$bg" \
		$(bench_fanout_fields "$f.json") $((d1 - d0)) "${f##*/}.json" \
		"$(bench_json_num p99_warm "$f.json")"
	if test $rc -ne 0; then
		sed 's/^/    /' "$f.log" >&2
	fi
	sed -n 's/^  \(delivered\|latency\|cpu s\|server mem\)/    \1/p' "$f.log" >&2
}

for rep in $(seq 1 "$REPS"); do
	for n in $CLIENTS; do
		for mode in $MODES; do
			# alternate who goes first
			if test $((rep % 2)) = 1; then
				one_case logcast "$mode" "$n" "$rep"
				one_case nchan "$mode" "$n" "$rep"
			else
				one_case nchan "$mode" "$n" "$rep"
				one_case logcast "$mode" "$n" "$rep"
			fi
		done
	done
done

# ------------------------------------------------------------- summary
for n in $CLIENTS; do
	for mode in $MODES; do
		c="$mode $n"
		m() { bench_runs_median "$c" "$1" "$2"; }
		bench_delivery_rows $SC "$c" "<=2.5" || status=1
		bench_row $SC "$c" "memory per held client, (peak RSS - idle RSS)/N" KB \
			"$(m logcast peak_kb_per_client)" "$(m nchan peak_kb_per_client)" "<=3.5" \
			"logcast: lighttpd + logcast-api; nchan: nginx master + 2 workers"
		bench_row $SC "$c" "RSS per held client, before round 1" KB \
			"$(m logcast rss_kb_per_client)" "$(m nchan rss_kb_per_client)"
		bench_row $SC "$c" "PSS per held client, before round 1" KB \
			"$(m logcast pss_kb_per_client)" "$(m nchan pss_kb_per_client)"
		bench_row $SC "$c" "server CPU per delivery" us \
			"$(m logcast us_per_delivery)" "$(m nchan us_per_delivery)"
	done
done

echo >&2
bench_table "$BENCH_ROWS" $SC >&2
echo "results in $BENCH_OUT" >&2
exit $status
