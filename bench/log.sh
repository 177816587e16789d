#!/bin/bash
# log.sh - benchmarks of the message log, as ratios measured in one run:
#
#   1. appends/s through the library vs a raw flock()+write() loop writing
#      the same bytes on the same file system, fsync off   (target >= 0.5)
#   2. 16 concurrent publisher processes, fsync=batch vs fsync=always
#      (group commit)                                       (target >= 5x)
#   3. read-since latency on a 10M-message channel vs a 10-message one
#      (median of random reads of 10 messages)              (target <= 2x)
#
# Every figure is the median of REPS alternated runs.  Results: one JSON
# object on stdout's last line and in bench/results/log.json.
#   REPS=3 BIG=10000000 bench/log.sh        (QUICK=1: smaller and faster)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
LB=$ROOT/build/bench/logbench
REPS=${REPS:-3}
BIG=${BIG:-10000000}
COUNT=${COUNT:-200000}
PUB=${PUB:-500}
if [ -n "${QUICK:-}" ]; then
	REPS=1 BIG=${BIG_QUICK:-200000} COUNT=50000 PUB=200
fi
mkdir -p "$OUT"
[ -x "$LB" ] || { echo "log.sh: build first (make)" >&2; exit 1; }

data=$OUT/log-data
rm -rf "$data"
mkdir -p "$data"
trap 'rm -rf "$data"' EXIT

say() { printf 'log.sh: %s\n' "$*" >&2; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

append_run() {  # impl fsync procs count -> appends/s
	rm -rf "$data/a"
	mkdir -p "$data/a"
	"$LB" append "$data/a" --impl "$1" --fsync "$2" --procs "$3" --count "$4" | field appends_per_s
}

say "1/3 appends/s, library vs raw flock+write, fsync off, $COUNT appends x $REPS"
lib=() raw=()
for ((r = 0; r < REPS; r++)); do
	raw+=("$(append_run raw off 1 "$COUNT")")
	lib+=("$(append_run lib off 1 "$COUNT")")
done
lib_m=$(printf '%s\n' "${lib[@]}" | median)
raw_m=$(printf '%s\n' "${raw[@]}" | median)
r1=$(ratio "$lib_m" "$raw_m")
say "   library $lib_m/s, raw $raw_m/s: ratio $r1 (target >= 0.5)"

say "2/3 16 publisher processes, fsync batch vs always, $PUB appends each x $REPS"
bat=() alw=()
for ((r = 0; r < REPS; r++)); do
	alw+=("$(append_run lib always 16 "$PUB")")
	bat+=("$(append_run lib batch 16 "$PUB")")
done
bat_m=$(printf '%s\n' "${bat[@]}" | median)
alw_m=$(printf '%s\n' "${alw[@]}" | median)
r2=$(ratio "$bat_m" "$alw_m")
say "   batch $bat_m/s, always $alw_m/s: ratio $r2 (target >= 5)"

say "3/3 read-since latency, $BIG-message channel vs 10-message channel"
rm -rf "$data/r"
mkdir -p "$data/r"
t0=$(date +%s)
# a channel meant to keep BIG messages is configured to retain them
LOGCAST_RETAIN=$BIG "$LB" fill "$data/r" big "$BIG" || exit 1
LOGCAST_RETAIN=$BIG "$LB" fill "$data/r" small 10 || exit 1
# written back before measuring, so reads do not race the writeback of GBs
sync -f "$data/r"
say "   filled in $(( $(date +%s) - t0 )) s ($(du -sh "$data/r" | cut -f1) on disk)"
big_p50=() small_p50=() big_tail=() big_p99=() small_p99=()
for ((r = 0; r < REPS; r++)); do
	s=$(LOGCAST_RETAIN=$BIG "$LB" read "$data/r" small --reads 20000 --limit 10)
	b=$(LOGCAST_RETAIN=$BIG "$LB" read "$data/r" big --reads 20000 --limit 10)
	t=$(LOGCAST_RETAIN=$BIG "$LB" read "$data/r" big --reads 20000 --limit 10 --tail)
	small_p50+=("$(echo "$s" | field p50_us)")
	small_p99+=("$(echo "$s" | field p99_us)")
	big_p50+=("$(echo "$b" | field p50_us)")
	big_p99+=("$(echo "$b" | field p99_us)")
	big_tail+=("$(echo "$t" | field p50_us)")
done
sm=$(printf '%s\n' "${small_p50[@]}" | median)
bm=$(printf '%s\n' "${big_p50[@]}" | median)
bt=$(printf '%s\n' "${big_tail[@]}" | median)
sp99=$(printf '%s\n' "${small_p99[@]}" | median)
bp99=$(printf '%s\n' "${big_p99[@]}" | median)
r3=$(ratio "$bm" "$sm")
r3t=$(ratio "$bt" "$sm")
say "   10 messages: p50 ${sm} us (p99 ${sp99}); $BIG: random p50 ${bm} us (p99 ${bp99}), near the end p50 ${bt} us"
say "   ratio random $r3, near the end $r3t (target <= 2)"

json=$(printf '{"bench":"log","reps":%s,"append_lib_per_s":%s,"append_raw_per_s":%s,"append_ratio":%s,"publish16_batch_per_s":%s,"publish16_always_per_s":%s,"batch_vs_always":%s,"read_big_messages":%s,"read_small_p50_us":%s,"read_big_p50_us":%s,"read_big_tail_p50_us":%s,"read_small_p99_us":%s,"read_big_p99_us":%s,"read_ratio":%s,"read_ratio_tail":%s}' \
	"$REPS" "$lib_m" "$raw_m" "$r1" "$bat_m" "$alw_m" "$r2" "$BIG" "$sm" "$bm" "$bt" "$sp99" "$bp99" "$r3" "$r3t")
echo "$json" >"$OUT/log.json"
echo "$json"
