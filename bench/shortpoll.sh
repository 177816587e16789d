#!/bin/bash
# shortpoll.sh - request rates with wrk: short polls that find nothing new,
# against a static file of the same size from the same lighttpd; and
# publishes, against Nchan's.
#
#	bench/shortpoll.sh            what `make bench` runs
#	QUICK=1 bench/shortpoll.sh    one repetition of 3 s each
#
# Short poll: one logcast stack (cmd/run.sh, LOGCAST_WWW = a scratch
# directory holding tiny.txt = "[]", 2 bytes); the channel gets 3
# messages, then wrk alternates between
#	GET /api/channels/bench/messages?since=3   -> 200 "[]" (logcast-api)
#	GET /tiny.txt                              -> 200 "[]" (lighttpd alone)
# REPS times DURATION each; the ratio of the medians has a target of
# >= 0.25.  Server CPU (lighttpd + logcast-api) per request is reported
# too.
#
# Publish: wrk with publish.lua (POST '{"bench":true}') against a fresh
# logcast with LOGCAST_FSYNC=batch (the default: acknowledged once on
# disk), a fresh Nchan (POST /pub/bench, in memory) and, for reference,
# a fresh logcast with LOGCAST_FSYNC=off; alternated REPS times.
#
# Environment (defaults): REPS=3 DURATION=10s (QUICK: 1 and 3s),
# WRK_ARGS="-t2 -c100", BENCH_PORT=31200 (logcast; nginx on +10).
# wrk, the servers and this script share the machine's cores.
set -u
. "$(dirname "$0")/lib.sh"

: "${QUICK:=}"
if test -n "$QUICK"; then
	: "${REPS:=1}" "${DURATION:=3s}"
else
	: "${REPS:=3}" "${DURATION:=10s}"
fi
: "${WRK_ARGS:=-t2 -c100}"
: "${BENCH_PORT:=31200}"
LC_PORT=$BENCH_PORT
NCHAN_PORT=$((BENCH_PORT + 10))
SC=shortpoll
CLK_TCK=$(getconf CLK_TCK)

command -v wrk >/dev/null || bench_die "wrk is missing: apt-get install wrk"
command -v nginx >/dev/null || bench_die "nginx is missing: apt-get install nginx-light libnginx-mod-nchan"
test -x "$LOGCAST_ROOT/build/logcast-api" || bench_die "build/logcast-api is missing: run make first"
bench_nofile
bench_results_init shortpoll
WWW=$(mktemp -d /tmp/lcb-www.XXXXXX) || exit 1
trap 'bench_cleanup; rm -rf "$WWW"' EXIT
trap 'exit 130' INT TERM HUP
chmod 755 "$WWW"
printf '[]' >"$WWW/tiny.txt"
printf '<!doctype html><title>bench</title>\n' >"$WWW/index.html"
chmod 644 "$WWW"/*

status=0
base=http://127.0.0.1:$LC_PORT

# wrk_case NAME URL PIDS [wrk options]: one wrk run; a runs.tsv line
# (bg%, req/s in the p50 column..., see below) and its figures on stdout.
wrk_case() {
	local name=$1 url=$2 pids=$3 bg c0 c1 res rps non2xx err p50 p99 us
	shift 3
	bg=$(bench_busy_pct 1)
	# shellcheck disable=SC2086
	c0=$(bench_cpu_ticks ${pids//,/ })
	# shellcheck disable=SC2086
	bench_wrk "$BENCH_OUT/$SC-$name.txt" "$url" $WRK_ARGS -d "$DURATION" "$@"
	# shellcheck disable=SC2086
	c1=$(bench_cpu_ticks ${pids//,/ })
	res=$(bench_wrk_figures "$BENCH_OUT/$SC-$name.txt")
	read -r rps non2xx err p50 p99 <<<"$res"
	us=$(awk -v c=$((c1 - c0)) -v t="$CLK_TCK" -v r="$rps" -v d="${DURATION%s}" \
		'BEGIN { if (r > 0) printf "%.1f", c / t * 1e6 / (r * d); else print "null" }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$bg" "$rps" "$non2xx" "$err" "$p50" "$p99" "$us" \
		>>"$BENCH_OUT/$SC-wrk.tsv"
	bench_say "    $name: $rps req/s, non-2xx $non2xx, socket errors $err, p99 $p99 ms, server ${us} us/request (bg ${bg}%)"
	test "$non2xx" = 0 && test "$err" = 0 || echo "bench: $name: $non2xx non-2xx responses, $err socket errors" >&2
}

# wrk_col NAME-PREFIX COLUMN (2 bg, 3 rps, 4 non2xx, 5 err, 6 p50, 7 p99, 8 us)
wrk_col() {
	awk -F'\t' -v n="$1" -v k="$2" 'index($1, n) == 1 && substr($1, length(n) + 1) ~ /^-[0-9]+$/ { print $k }' \
		"$BENCH_OUT/$SC-wrk.tsv"
}
wrk_med() {
	# shellcheck disable=SC2046
	bench_median $(wrk_col "$1" "$2")
}
wrk_list() { wrk_col "$1" "$2" | paste -sd/ -; }
wrk_sum() { wrk_col "$1" "$2" | awk '{ s += $1 } END { print s + 0 }'; }

: >"$BENCH_OUT/$SC-wrk.tsv"

# ------------------------------------------------------------ short poll
bench_say "$SC: short poll vs a static file of the same size, $REPS x $DURATION each"
lc_start "$LC_PORT" LOGCAST_WWW="$WWW"
for _ in 1 2 3; do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
		--data '{"bench":true}' "$base/api/channels/bench/messages"
done
last=$(curl -s -D - -o /dev/null "$base/api/channels/bench/messages?limit=1" |
	awk -F': *' 'tolower($1) == "x-last-id" { print $2 + 0 }')
api_url="$base/api/channels/bench/messages?since=${last:-0}"
body_api=$(curl -s "$api_url")
body_static=$(curl -s "$base/tiny.txt")
if test "$body_api" != "[]" || test "$body_static" != "[]"; then
	echo "bench: expected [] from both, got '$body_api' and '$body_static'" >&2
	status=1
fi
for rep in $(seq 1 "$REPS"); do
	wrk_case "static-$rep" "$base/tiny.txt" "$LC_LIGHTTPD,$LC_API"
	wrk_case "api-$rep" "$api_url" "$LC_LIGHTTPD,$LC_API"
done
LC_KEEP_LOGS=$BENCH_OUT/$SC-shortpoll.logs lc_stop

# --------------------------------------------------------------- publish
bench_say "$SC: publish rate, logcast (fsync batch, off) vs Nchan, $REPS x $DURATION each"
for rep in $(seq 1 "$REPS"); do
	lc_start "$LC_PORT" LOGCAST_FSYNC=batch
	wrk_case "pub-batch-$rep" "$base/api/channels/bench/messages" "$LC_LIGHTTPD,$LC_API" \
		-s "$BENCH_DIR/publish.lua"
	LC_KEEP_LOGS=$BENCH_OUT/$SC-pub-batch-$rep.logs lc_stop
	nchan_start "$NCHAN_PORT"
	wrk_case "pub-nchan-$rep" "http://127.0.0.1:$NCHAN_PORT/pub/bench" "$(nchan_pids)" \
		-s "$BENCH_DIR/publish.lua"
	nchan_stop
	lc_start "$LC_PORT" LOGCAST_FSYNC=off
	wrk_case "pub-off-$rep" "$base/api/channels/bench/messages" "$LC_LIGHTTPD,$LC_API" \
		-s "$BENCH_DIR/publish.lua"
	LC_KEEP_LOGS=$BENCH_OUT/$SC-pub-off-$rep.logs lc_stop
done

# --------------------------------------------------------------- summary
bench_row $SC "GET ...?since=last -> [] vs GET /tiny.txt (2 bytes)" "requests/s (wrk $WRK_ARGS, $REPS x $DURATION alternated)" "req/s" \
	"$(wrk_med api 3)" "$(wrk_med static 3)" ">=0.25" \
	"runs: $(wrk_list api 3) vs $(wrk_list static 3); non-2xx $(wrk_sum api 4)/$(wrk_sum static 4); bg% $(wrk_list api 2) / $(wrk_list static 2)"
bench_row $SC "GET ...?since=last -> [] vs GET /tiny.txt (2 bytes)" "p99 latency (wrk)" ms \
	"$(wrk_med api 7)" "$(wrk_med static 7)"
bench_row $SC "GET ...?since=last -> [] vs GET /tiny.txt (2 bytes)" "server CPU per request (lighttpd + logcast-api)" us \
	"$(wrk_med api 8)" "$(wrk_med static 8)"
bench_row $SC "publish, LOGCAST_FSYNC=batch vs Nchan" "requests/s (wrk, $REPS x $DURATION alternated)" "req/s" \
	"$(wrk_med pub-batch 3)" "$(wrk_med pub-nchan 3)" "" \
	"runs: $(wrk_list pub-batch 3) vs $(wrk_list pub-nchan 3); non-2xx $(wrk_sum pub-batch 4)/$(wrk_sum pub-nchan 4); Nchan keeps messages in memory"
bench_row $SC "publish, LOGCAST_FSYNC=off vs Nchan" "requests/s (reference)" "req/s" \
	"$(wrk_med pub-off 3)" "$(wrk_med pub-nchan 3)" "" \
	"runs: $(wrk_list pub-off 3); non-2xx $(wrk_sum pub-off 4)"
bench_row $SC "publish, LOGCAST_FSYNC=batch vs Nchan" "p99 latency (wrk)" ms \
	"$(wrk_med pub-batch 7)" "$(wrk_med pub-nchan 7)"
bench_row $SC "publish, LOGCAST_FSYNC=batch vs Nchan" "server CPU per publish" us \
	"$(wrk_med pub-batch 8)" "$(wrk_med pub-nchan 8)" "" "fsync=off: $(wrk_med pub-off 8) us"

# runs.tsv: one line per wrk run (req/s in the p50_ms column would be
# confusing, so only the bg%, the ok flag and the file are filled in)
while IFS=$'\t' read -r name bg rps non2xx err p50 p99 us; do
	ok=true
	test "$non2xx" = 0 && test "$err" = 0 || ok=false
	bench_run_row $SC "wrk $name" "$(case $name in pub-nchan*|static*) echo peer ;; *) echo logcast ;; esac)" \
		"${name##*-}" "$bg" "$ok" "" "" "$((non2xx + err))" "$p50" "$p99" "" "" "$us" "" "" "" "" "" \
		"$SC-$name.txt"
done <"$BENCH_OUT/$SC-wrk.tsv"

echo >&2
bench_table "$BENCH_ROWS" $SC >&2
echo "results in $BENCH_OUT" >&2
exit $status
