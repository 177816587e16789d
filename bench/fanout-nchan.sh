#!/bin/bash
# fanout-nchan.sh - run fanout against nginx + Nchan, the peer logcast is
# compared with, and print one line per case.
#
#	bench/fanout-nchan.sh
#	MODES=ws CLIENTS="1000 10000" ROUNDS=5 bench/fanout-nchan.sh
#
# Environment (defaults):
#	MODES="longpoll sse ws"  CLIENTS="1000 4000"  ROUNDS=20  REPS=1
#	PORT=18080               where nginx listens (127.0.0.1)
#	OUT=bench/results/nchan-<date>   per-case JSON (fanout --json) and log
#	FANOUT_ARGS=             extra fanout options, e.g. "--batch 250"
#
# Every case gets a fresh nginx (bench/lib.sh: nchan_start), so "idle"
# memory is a new server's and nothing carries over between cases.  Before
# each case the machine's busy CPU is sampled for 1 s (bg%) to show
# background load.  Columns: latency in ms pooled over all subscribers and
# rounds; srv/cli s = CPU seconds of nginx (master + workers) and of
# fanout over the measured rounds; us/dlv = server CPU per delivery;
# KB/held = (RSS with all subscribers connected - RSS before) / N, and the
# same for PSS.  Exit status 1 if any case missed a delivery or had errors.

set -u
. "$(dirname "$0")/lib.sh"

: "${MODES:=longpoll sse ws}"
: "${CLIENTS:=1000 4000}"
: "${ROUNDS:=20}"
: "${REPS:=1}"
: "${PORT:=18080}"
: "${OUT:=$BENCH_DIR/results/nchan-$(date +%Y%m%d-%H%M%S)}"
: "${FANOUT_ARGS:=}"

command -v nginx >/dev/null || bench_die "nginx is missing: apt-get install nginx-light libnginx-mod-nchan"
bench_nofile
FANOUT=$(bench_build_fanout) || bench_die "cannot build fanout"
mkdir -p "$OUT" || exit 1
trap 'nchan_stop' EXIT
trap 'exit 130' INT TERM

# The value of a number (or null) field of fanout's JSON.
jnum() {
	grep -o "\"$1\":[-0-9.a-z]*" "$2" | head -n1 | cut -d: -f2
}

status=0
printf '%-8s %6s %4s %13s %6s %7s %7s %7s %7s %6s %6s %6s %8s %8s %5s\n' \
	mode N rep delivered errors p50 p90 p99 max srv_s cli_s us/dlv \
	KB/held PSS/held bg% | tee "$OUT/table.txt"
for mode in $MODES; do
	for n in $CLIENTS; do
		for rep in $(seq 1 "$REPS"); do
			name=$mode-$n-$rep
			bg=$(bench_busy_pct 1)
			nchan_start "$PORT"
			# shellcheck disable=SC2086
			"$FANOUT" --target nchan --mode "$mode" --clients "$n" \
				--rounds "$ROUNDS" --port "$PORT" --path /sub/bench \
				--publish-path /pub/bench --publish-body 'hello from fanout' \
				--rss-pids "$(nchan_pids)" --json $FANOUT_ARGS \
				>"$OUT/$name.json" 2>"$OUT/$name.log"
			rc=$?
			cp "$NCHAN_DIR/logs/error.log" "$OUT/$name.nginx-error.log" 2>/dev/null
			nchan_stop
			if test $rc -ne 0 || ! test -s "$OUT/$name.json"; then
				status=1
				sed 's/^/    /' "$OUT/$name.log" >&2
				test -s "$OUT/$name.json" || continue
			fi
			j=$OUT/$name.json
			printf '%-8s %6s %4s %13s %6s %7s %7s %7s %7s %6s %6s %6s %8s %8s %5s\n' \
				"$mode" "$n" "$rep" \
				"$(jnum delivered "$j")/$(jnum expected "$j")" \
				"$(jnum total "$j")" \
				"$(jnum p50 "$j")" "$(jnum p90 "$j")" "$(jnum p99 "$j")" \
				"$(jnum max "$j")" \
				"$(jnum server_cpu_s "$j")" "$(jnum client_cpu_s "$j")" \
				"$(awk -v c="$(jnum server_cpu_s "$j")" -v d="$(jnum delivered "$j")" \
					'BEGIN { if (c != "null" && d > 0) printf "%.1f", c * 1e6 / d; else print "-" }')" \
				"$(jnum server_rss_per_client_kb "$j")" \
				"$(jnum server_pss_per_client_kb "$j")" "$bg" | tee -a "$OUT/table.txt"
		done
	done
done
echo "results in $OUT" >&2
exit $status
