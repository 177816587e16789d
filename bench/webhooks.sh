#!/bin/bash
# webhooks.sh - webhook delivery: throughput to 100 local endpoints with
# signing and durable cursors, and publish->receiver latency in --watch
# mode.
#
#	bench/webhooks.sh                 (also run by bench/run.sh)
#	QUICK=1 bench/webhooks.sh         one short repetition
#
# The logcast stack is started as `make run` does (cmd/run.sh, with
# LOGCAST_WEBHOOK_DISPATCH=0: this script runs logcast-dispatch itself, and
# without the demo receiver); whrecv (whrecv.c) is ENDPOINTS HTTP endpoints
# on ENDPOINTS ports of one epoll process that answer 200 at once, and
# ENDPOINTS webhooks are registered through the API on channel "bench".
# Messages are published through lighttpd (POST /api/channels/bench/
# messages) by whrecv's publisher, which puts its clock (CLOCK_REALTIME,
# us) in each message; the receiver subtracts it on arrival.  Cursors are
# durable (LOGCAST_FSYNC batch, the default: every state file is
# fdatasync'd, renamed and its directory fsync'd) and every delivery is
# signed (HMAC-SHA256) and recorded as an attempt.  Cases:
#
#   once drain    MESSAGES messages published first, then
#                 `logcast-dispatch --once` delivers ENDPOINTS x MESSAGES;
#                 deliveries/s over its whole run (start-up and final state
#                 write included)                      target >= 5,000/s
#   watch burst   `logcast-dispatch --watch` running; MESSAGES published as
#                 fast as lighttpd takes them; deliveries/s from the first
#                 publish to the last delivery         target >= 5,000/s
#   watch latency the same dispatcher; LAT_MESSAGES at LAT_RATE/s; p50, p99
#                 and max publish->receiver over every delivery
#                                                      target p99 <= 50 ms
#
# Environment (defaults): ENDPOINTS=100, MESSAGES=500, LAT_MESSAGES=300,
# LAT_RATE=20, REPS=3 (QUICK: 1 repetition, MESSAGES=100, LAT_MESSAGES=60),
# BENCH_PORT=31500 (the stack; websocketd on +1; whrecv on +10 ...).
# Figures are medians over REPS; each repetition's are in the notes.
set -u
. "$(dirname "$0")/lib.sh"

: "${QUICK:=}"
: "${ENDPOINTS:=100}" "${LAT_RATE:=20}" "${BENCH_PORT:=31500}"
if test -n "$QUICK"; then
	: "${REPS:=1}" "${MESSAGES:=100}" "${LAT_MESSAGES:=60}"
else
	: "${REPS:=3}" "${MESSAGES:=500}" "${LAT_MESSAGES:=300}"
fi
SC=webhooks
LC_PORT=$BENCH_PORT
RECV_FIRST=$((BENCH_PORT + 10))
RECV_LAST=$((RECV_FIRST + ENDPOINTS - 1))
DISPATCH=$LOGCAST_ROOT/build/logcast-dispatch

bench_results_init webhooks
WORK=$(mktemp -d /tmp/lcwh.XXXXXX) || bench_die "no scratch directory"
RECV_PID= DISP_PID=

stop_pid() {	# stop_pid PID: TERM, then wait for it
	test -n "$1" || return 0
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
finish() {
	stop_pid "$DISP_PID"
	stop_pid "$RECV_PID"
	bench_cleanup
	test -n "${BENCH_KEEP:-}" || rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

# the figures are only as good as the machine is quiet
test -x "$DISPATCH" || bench_die "build first (make): $DISPATCH is missing"
mkdir -p "$BENCH_BIN" || bench_die "cannot create $BENCH_BIN"
WHRECV=$BENCH_BIN/whrecv
if test ! -x "$WHRECV" || test "$BENCH_DIR/whrecv.c" -nt "$WHRECV"; then
	$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$WHRECV" \
		"$BENCH_DIR/whrecv.c" >&2 || bench_die "cannot build bench/whrecv.c"
fi
bench_nofile

# stat FIELD: a field of whrecv's stats file
stat_field() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/stats" 2>/dev/null; }
wait_requests() {	# wait_requests N SECS: until whrecv has seen N requests
	local want=$1 end=$(( $(date +%s) + $2 ))
	while test "$(stat_field requests)" -lt "$want"; do
		test "$(date +%s)" -lt "$end" || return 1
		sleep 0.005
	done
}
now_ms() { date +%s%3N; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
publish() {	# publish COUNT RATE
	"$WHRECV" --publish "127.0.0.1:$LC_PORT/api/channels/bench/messages" \
		--count "$1" --rate "$2" >>"$WORK/publish.log" 2>&1
}

bench_say "webhooks: the stack on $LC_PORT, $ENDPOINTS endpoints on $RECV_FIRST-$RECV_LAST"
lc_start "$LC_PORT" LOGCAST_WEBHOOK_DISPATCH=0 LOGCAST_WEBHOOK_DEMO=0 \
	LOGCAST_WEBHOOK_ALLOW=127.0.0.1/32
# the dispatcher we run works on the stack's data, allowed to the endpoints
export LOGCAST_DATA_DIR="$LC_DIR/var" LOGCAST_WEBHOOK_ALLOW=127.0.0.1/32
"$WHRECV" --ports "$RECV_FIRST-$RECV_LAST" --stats "$WORK/stats" \
	>"$WORK/whrecv.out" 2>&1 &
RECV_PID=$!
for ((i = 0; i < 100; i++)); do
	test -s "$WORK/stats" && break
	sleep 0.05
done
test -s "$WORK/stats" || bench_die "whrecv did not start: $(cat "$WORK/whrecv.out")"

secret="whsec_$(head -c 32 /dev/urandom | base64 -w 0)"
for ((p = RECV_FIRST; p <= RECV_LAST; p++)); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"url\":\"http://127.0.0.1:$p/hook\",\"channels\":[\"bench\"],\"secret\":\"$secret\"}" \
		"http://127.0.0.1:$LC_PORT/api/webhooks")
	test "$code" = 201 || bench_die "registering endpoint $p: HTTP $code"
done
hz=$(getconf CLK_TCK)
per=$((ENDPOINTS * MESSAGES))
once_rate=() watch_rate=() once_cpu=() watch_cpu=() p50=() p99=() pmax=() pub99=() notes=

for ((rep = 1; rep <= REPS; rep++)); do
	bg=$(bench_busy_pct 1)

	# once drain
	publish "$MESSAGES" 0 || bench_die "publishing failed: $(tail -n 3 "$WORK/publish.log")"
	r0=$(stat_field requests)
	t0=$(now_ms)
	TIMEFORMAT='%U %S'
	{ time "$DISPATCH" --once 2>>"$WORK/dispatch.log"; } 2>"$WORK/time"
	t1=$(now_ms)
	wait_requests $((r0 + per)) 10 || bench_die "--once delivered $(( $(stat_field requests) - r0 )) of $per"
	secs=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.3f", ms / 1000 }')
	rate=$(awk -v n=$per -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }')
	cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$WORK/time")
	once_rate+=("$rate")
	once_cpu+=("$(awk -v c="$cpu" -v n=$per 'BEGIN { printf "%.1f", c * 1e6 / n }')")
	bench_run_row $SC "once drain" logcast "$rep" "$bg" true "$per" "$per" 0 "" "" "" "$cpu" \
		"${once_cpu[-1]}" "" "" "" "" "" ""
	bench_say "  rep $rep: --once: $per deliveries in $secs s = $rate/s (dispatcher CPU $cpu s; bg $bg%)"

	# watch burst
	"$DISPATCH" --watch 2>>"$WORK/dispatch.log" &
	DISP_PID=$!
	sleep 0.5
	r0=$(stat_field requests)
	c0=$(cpu_ticks "$DISP_PID")
	t0=$(now_ms)
	publish "$MESSAGES" 0 || bench_die "publishing failed"
	wait_requests $((r0 + per)) 60 || bench_die "--watch delivered $(( $(stat_field requests) - r0 )) of $per"
	t1=$(now_ms)
	c1=$(cpu_ticks "$DISP_PID")
	rate=$(awk -v n=$per -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }')
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }')
	watch_rate+=("$rate")
	watch_cpu+=("$(awk -v c="$cpu" -v n=$per 'BEGIN { printf "%.1f", c * 1e6 / n }')")
	bench_run_row $SC "watch burst" logcast "$rep" "$bg" true "$per" "$per" 0 "" "" "" "$cpu" \
		"${watch_cpu[-1]}" "" "" "" "" "" ""
	bench_say "  rep $rep: --watch burst: $per deliveries in $((t1 - t0)) ms = $rate/s (dispatcher CPU $cpu s)"

	# watch latency
	sleep 0.5
	kill -USR1 "$RECV_PID"
	sleep 0.1
	r0=$(stat_field requests)
	lat=$((ENDPOINTS * LAT_MESSAGES))
	publish "$LAT_MESSAGES" "$LAT_RATE" || bench_die "publishing failed"
	wait_requests $((r0 + lat)) 30 || bench_die "latency case: delivered $(( $(stat_field requests) - r0 )) of $lat"
	rm -f "$WORK/stats.lat"
	kill -USR2 "$RECV_PID"
	for ((i = 0; i < 100; i++)); do
		test -s "$WORK/stats.lat" && break
		sleep 0.02
	done
	cp "$WORK/stats.lat" "$BENCH_OUT/webhooks-latency-$rep.json"
	pub99+=("$(tail -n 1 "$WORK/publish.log" | sed -n 's/.*round trip p50 [0-9.]* ms, p99 \([0-9.]*\) ms.*/\1/p')")
	p50+=("$(bench_json_num p50_ms "$WORK/stats.lat")")
	p99+=("$(bench_json_num p99_ms "$WORK/stats.lat")")
	pmax+=("$(bench_json_num max_ms "$WORK/stats.lat")")
	bench_run_row $SC "watch latency" logcast "$rep" "$bg" true "$lat" "$lat" 0 \
		"${p50[-1]}" "${p99[-1]}" "${pmax[-1]}" "" "" "" "" "" "" "" \
		"webhooks-latency-$rep.json"
	bench_say "  rep $rep: --watch latency over $lat deliveries: p50 ${p50[-1]} ms, p99 ${p99[-1]} ms, max ${pmax[-1]} ms (publish round trip p99 ${pub99[-1]} ms)"
	stop_pid "$DISP_PID"
	DISP_PID=
	notes="$notes${notes:+; }rep $rep bg ${bg}%"
done

c_once="once drain, $ENDPOINTS endpoints x $MESSAGES messages"
c_watch="watch burst, $ENDPOINTS endpoints x $MESSAGES messages"
c_lat="watch, $ENDPOINTS endpoints, $LAT_RATE msg/s x $LAT_MESSAGES"
bench_row $SC "$c_once" "deliveries/s (signed, durable cursors)" /s \
	"$(bench_median "${once_rate[@]}")" "" ">=5000" "runs: ${once_rate[*]}; $notes"
bench_row $SC "$c_once" "dispatcher CPU per delivery" us "$(bench_median "${once_cpu[@]}")" "" "" \
	"runs: ${once_cpu[*]}"
bench_row $SC "$c_watch" "deliveries/s, first publish to last delivery" /s \
	"$(bench_median "${watch_rate[@]}")" "" ">=5000" "runs: ${watch_rate[*]}"
bench_row $SC "$c_watch" "dispatcher CPU per delivery" us "$(bench_median "${watch_cpu[@]}")" "" "" \
	"runs: ${watch_cpu[*]}"
bench_row $SC "$c_lat" "p50 publish->receiver" ms "$(bench_median "${p50[@]}")" "" "" "runs: ${p50[*]}"
bench_row $SC "$c_lat" "p99 publish->receiver" ms "$(bench_median "${p99[@]}")" "" "<=50" "runs: ${p99[*]}"
bench_row $SC "$c_lat" "max publish->receiver" ms "$(bench_median "${pmax[@]}")" "" "" "runs: ${pmax[*]}"
bench_row $SC "$c_lat" "p99 publish round trip (POST to 201, part of the above)" ms \
	"$(bench_median "${pub99[@]}")" "" "" "runs: ${pub99[*]}"

echo "## webhooks"
echo
bench_table "$BENCH_ROWS" webhooks
printf '{"endpoints":%d,"messages":%d,"reps":%d,"once_deliveries_per_s":%s,"watch_deliveries_per_s":%s,"latency_p50_ms":%s,"latency_p99_ms":%s,"latency_max_ms":%s}\n' \
	"$ENDPOINTS" "$MESSAGES" "$REPS" "$(bench_median "${once_rate[@]}")" \
	"$(bench_median "${watch_rate[@]}")" "$(bench_median "${p50[@]}")" \
	"$(bench_median "${p99[@]}")" "$(bench_median "${pmax[@]}")"
