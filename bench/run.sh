#!/bin/bash
# run.sh - what `make bench` runs: every benchmark scenario in bench/, one
# after the other, then one summary of them all.
#
#	make bench                     (builds first, installs what is missing)
#	bench/run.sh                   the same, once `make` has been run
#	QUICK=1 bench/run.sh           a smoke check: one short repetition each
#	SCENARIOS="http ws" bench/run.sh
#
# Scenarios, in this order (each is also runnable alone, see its header):
#	log.sh        the message log itself
#	http.sh       long-poll and SSE fan-out, logcast vs Nchan
#	shortpoll.sh  short poll vs a static file; publish rate vs Nchan
#	ws.sh         WebSocket fan-out, logcast vs Nchan
#	webhooks.sh   webhook delivery
# A scenario whose script is not there is skipped with a note.
#
# Output, in bench/results/ (gitignored):
#	run-DATE/              everything of this run: rows.tsv (the figures),
#	                       runs.tsv (one line per measurement), each
#	                       scenario's log and its raw results
#	summary.json           this run's figures, also copied to www/bench.json
#	                       for the demo page
#	summary.md             the same as a table (printed at the end)
# See bench/README.md for the format of rows.tsv and summary.json.
#
# The servers each scenario starts are its own: fresh per case, on ports
# 31000-31999, stopped by pid when the case ends, and on Ctrl-C.  Exit
# status: 1 when a scenario failed (deliveries missing, a server that did
# not start), 0 otherwise; missing a performance target is not a failure.
set -u
. "$(dirname "$0")/lib.sh"

: "${QUICK:=}"
: "${SCENARIOS:=log http shortpoll ws webhooks}"
BENCH_T0=$(date +%s)
export QUICK BENCH_T0 LOGCAST_ROOT

RESULTS=$BENCH_DIR/results
stamp=$(date +%Y%m%d-%H%M%S)
BENCH_OUT=$RESULTS/run-$stamp
BENCH_ROWS=$BENCH_OUT/rows.tsv
BENCH_RUNS=$BENCH_OUT/runs.tsv
export BENCH_OUT BENCH_ROWS BENCH_RUNS
bench_results_init run

current=
trap 'test -n "$current" && kill -TERM "$current" 2>/dev/null; wait 2>/dev/null' EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

# What the scenarios need, built once here.
for p in logcast-api logcast-ws logcast; do
	test -x "$LOGCAST_ROOT/build/$p" && continue
	bench_say "building the programs (make)"
	make -C "$LOGCAST_ROOT" --no-print-directory all >&2 || bench_die "make failed"
	break
done
bench_nofile
bench_build_fanout >/dev/null || bench_die "cannot build bench/fanout.c"
"$BENCH_BIN/fanout" --self-test 2>"$BENCH_OUT/fanout-self-test.log" ||
	bench_die "fanout's self-test failed: see $BENCH_OUT/fanout-self-test.log"

# A scenario that prints a JSON object as the last line of its stdout
# (bench/log.sh does) gets it kept in summary.json ("results": {NAME:
# ...}); if it wrote no rows of its own, its figures become rows: the
# pairs log.sh reports with their targets, or else every numeric field.
extra_json=
scenario_json() {
	local s=$1 j line
	line=$(grep -v '^[[:space:]]*$' "$BENCH_OUT/$s.out" 2>/dev/null | tail -n1)
	case $line in
	'{'*'}') ;;
	*) return 0 ;;
	esac
	if command -v jq >/dev/null && ! printf '%s' "$line" | jq -e . >/dev/null 2>&1; then
		return 0
	fi
	j=$BENCH_OUT/$s.json
	printf '%s\n' "$line" >"$j"
	extra_json="$extra_json${extra_json:+,}\"$s\":$line"
	awk -F'\t' -v s="$s" 'NR > 1 && $1 == s { found = 1 } END { exit !found }' "$BENCH_ROWS" && return 0
	local v=bench_json_num
	if test "$($v append_ratio "$j")" != null; then
		bench_row "$s" "append, library vs raw flock+write (fsync off)" "appends/s" "" \
			"$($v append_lib_per_s "$j")" "$($v append_raw_per_s "$j")" ">=0.5"
		bench_row "$s" "16 publisher processes, fsync batch vs always" "appends/s" "" \
			"$($v publish16_batch_per_s "$j")" "$($v publish16_always_per_s "$j")" ">=5"
		bench_row "$s" "read since, $($v read_big_messages "$j")-message channel vs 10-message one" \
			"p50 read latency (random position)" us \
			"$($v read_big_p50_us "$j")" "$($v read_small_p50_us "$j")" "<=2"
		bench_row "$s" "read since, $($v read_big_messages "$j")-message channel vs 10-message one" \
			"p50 read latency (near the end)" us \
			"$($v read_big_tail_p50_us "$j")" "$($v read_small_p50_us "$j")"
		return 0
	fi
	printf '%s\n' "$line" | grep -o '"[A-Za-z0-9_]*":-\{0,1\}[0-9][0-9.eE+-]*' |
	while IFS=: read -r k val; do
		bench_row "$s" "(as reported)" "${k//\"/}" "" "$val"
	done
}

bench_say "bench: results in ${BENCH_OUT#"$BENCH_ROOT"/}${QUICK:+ (QUICK mode)}"
status=0
scen_json=
for s in $SCENARIOS; do
	script=$BENCH_DIR/$s.sh
	t0=$(date +%s)
	if ! test -f "$script"; then
		bench_say "$s: bench/$s.sh is not there (yet): skipped"
		st=missing rc=
	else
		bench_say "$s: bench/$s.sh"
		# the scenario's output goes to files, shown here as it comes
		bash "$script" >"$BENCH_OUT/$s.out" 2>"$BENCH_OUT/$s.log" &
		current=$!
		tail -q -n +1 -s 0.2 -f --pid="$current" "$BENCH_OUT/$s.out" "$BENCH_OUT/$s.log" >&2 &
		wait "$current"
		rc=$?
		current=
		wait 2>/dev/null	# tail, which sees the scenario gone
		if test $rc = 0; then
			st=ok
		else
			st=failed
			status=1
			bench_say "$s: FAILED (exit $rc); see ${BENCH_OUT#"$BENCH_ROOT"/}/$s.log"
		fi
	fi
	secs=$(( $(date +%s) - t0 ))
	scen_json="$scen_json${scen_json:+,}{\"name\":\"$s\",\"status\":\"$st\",\"exit\":${rc:-null},\"seconds\":$secs}"
	test "$st" = missing || scenario_json "$s"
done

# ------------------------------------------------------------ summary
commit=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=false
test -n "$(git -C "$BENCH_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" && dirty=true
duration=$(( $(date +%s) - BENCH_T0 ))
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_gb=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)

# JSON string / number of a TSV field
tsv_to_json() {
	awk -F'\t' '
		function js(s) {
			gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s)
			gsub(/\r/, "\\r", s); gsub(/\t/, "\\t", s)
			return "\"" s "\""
		}
		function val(s) {
			if (s == "" || s == "null") return "null"
			if (s == "true" || s == "false") return s
			if (s ~ /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) return s
			return js(s)
		}
		NR == 1 { for (i = 1; i <= NF; i++) k[i] = $i; n = NF; next }
		{
			printf "%s\n    {", (c++ ? "," : "")
			for (i = 1; i <= n; i++) printf "%s%s:%s", (i > 1 ? "," : ""), js(k[i]), val($i)
			printf "}"
		}' "$1"
}

{
	printf '{\n  "title": "logcast benchmarks (make bench)",\n'
	printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '  "commit": "%s",\n  "dirty": %s,\n' "$commit" "$dirty"
	printf '  "quick": %s,\n' "$(test -n "$QUICK" && echo true || echo false)"
	printf '  "duration_s": %s,\n' "$duration"
	printf '  "machine": "%s CPUs (%s), %s GB RAM, %s",\n' "$(nproc)" "$cpu_model" "$mem_gb" "$(uname -r)"
	printf '  "peer": "Nchan (or the baseline named in the case)",\n'
	printf '  "rows": ['
	tsv_to_json "$BENCH_ROWS"
	printf '\n  ],\n  "scenarios": [%s],\n  "runs": [' "$scen_json"
	tsv_to_json "$BENCH_RUNS"
	printf '\n  ],\n  "results": {%s}\n}\n' "$extra_json"
} >"$BENCH_OUT/summary.json"

{
	echo "# logcast benchmarks"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$(test "$dirty" = true && echo ' (with uncommitted changes)'), $(nproc) CPUs, ${mem_gb} GB; $((duration / 60)) min $((duration % 60)) s${QUICK:+; QUICK mode (one short repetition: smoke check, not a measurement)}."
	echo "Figures are medians over the repetitions of one run; ratio = logcast / peer (Nchan unless the case names another)."
	echo "The machine is shared: bg% (busy CPU before each case) is in the notes."
	echo
	for s in $SCENARIOS; do
		st=$(printf '%s' "$scen_json" | grep -o "\"name\":\"$s\",\"status\":\"[a-z]*\"" | sed 's/.*"status":"//; s/"$//')
		echo "- $s: $st"
	done
	echo
	bench_table "$BENCH_ROWS"
	echo
	awk -F'\t' 'NR > 1 && $9 == "met" { m++ } NR > 1 && $9 == "missed" { x++ }
		END { printf "Targets: %d met, %d missed.\n", m, x }' "$BENCH_ROWS"
	for f in "$BENCH_OUT"/*.md; do
		test -f "$f" || continue
		case $f in */summary.md) continue ;; esac
		echo
		cat "$f"
	done
} >"$BENCH_OUT/summary.md"

cp "$BENCH_OUT/summary.json" "$RESULTS/summary.json"
cp "$BENCH_OUT/summary.md" "$RESULTS/summary.md"
mkdir -p "$BENCH_ROOT/www" && cp "$BENCH_OUT/summary.json" "$BENCH_ROOT/www/bench.json"

echo >&2
cat "$RESULTS/summary.md"
echo
echo "bench: bench/results/summary.md, summary.json (and www/bench.json); details in ${BENCH_OUT#"$BENCH_ROOT"/}" >&2
exit $status
