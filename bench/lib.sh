# lib.sh - helpers sourced by the bench scripts (bash).
#
#	. "$(dirname "$0")/lib.sh"
#
# Setup and measuring
#	bench_nofile                  raise `ulimit -n` to the hard limit
#	bench_build_fanout            build fanout.c, print the binary's path
#	bench_busy_pct [SECONDS]      machine-wide busy CPU % over SECONDS (1)
#	bench_listen_drops            TcpExt ListenOverflows+ListenDrops so far
#	bench_wait_http PORT [SECS]   wait until 127.0.0.1:PORT answers HTTP
#	bench_children PID            the pids of PID's children, one a line
#	bench_json_num KEY FILE       a number (or null) field of a flat JSON
#	bench_median V...             median of the numeric arguments
#	bench_say TEXT                a progress line on stderr, with the time
#	bench_bg CMD...               run CMD in the background and wait for it
#	                              (so a signal reaches our trap at once);
#	                              the trap kills it by pid
#
# Servers (each started fresh per case, stopped by pid, never by name)
#	lc_start PORT [VAR=VALUE...]  the logcast stack (cmd/run.sh) on PORT
#	                              (websocketd on PORT+1) with its own data
#	                              dir; sets LC_PID (run.sh), LC_LIGHTTPD,
#	                              LC_API (logcast-api), LC_WSD (websocketd)
#	lc_stop                       stop it, keep its logs in $LC_KEEP_LOGS
#	nchan_start PORT              start nginx + Nchan from nchan.conf
#	nchan_pids                    master and workers, comma-separated
#	nchan_stop                    stop it (by pid) and drop its scratch dir
#	bench_cleanup                 all of the above that still runs: the
#	                              scripts call it from their EXIT trap
#
# Results (see README.md in this directory for the format)
#	bench_results_init NAME       set BENCH_OUT, BENCH_ROWS, BENCH_RUNS
#	bench_row SCENARIO CASE METRIC UNIT LOGCAST [PEER [TARGET [NOTE]]]
#	bench_run_row FIELD...        one line of per-run detail (runs.tsv)
#	bench_table ROWS              the rows as a Markdown table
#
# Binaries go to $BENCH_BIN (default bench/results/bin, gitignored); the
# servers run in scratch directories under /tmp.  Set BENCH_KEEP=1 to keep
# the scratch directories (data, logs).  LOGCAST_ROOT (default: this
# checkout) is where cmd/run.sh, lighttpd.conf and build/ are taken from.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_DIR/.." && pwd)
: "${LOGCAST_ROOT:=$BENCH_ROOT}"
: "${BENCH_BIN:=$BENCH_DIR/results/bin}"
: "${CC:=gcc}"

NCHAN_PID=
NCHAN_DIR=
LC_PID=
LC_DIR=
LC_LIGHTTPD=
LC_API=
LC_WSD=
BENCH_JOB=
BENCH_T0=${BENCH_T0:-$(date +%s)}

bench_die() {
	echo "bench: $*" >&2
	exit 1
}

bench_say() {
	local t=$(( $(date +%s) - BENCH_T0 ))
	printf '[%02d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*" >&2
}

bench_nofile() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null ||
		echo "bench: cannot raise the fd limit (now $(ulimit -n))" >&2
}

# Rebuilds only when fanout.c is newer than the binary.
bench_build_fanout() {
	local out=$BENCH_BIN/fanout
	mkdir -p "$BENCH_BIN" || return 1
	if test ! -x "$out" || test "$BENCH_DIR/fanout.c" -nt "$out"; then
		$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
			-o "$out" "$BENCH_DIR/fanout.c" >&2 || return 1
	fi
	echo "$out"
}

# Busy share of all CPUs (user+nice+system+irq+softirq+steal) in percent,
# sampled from /proc/stat over SECONDS: background load before a case.
bench_busy_pct() {
	local secs=${1:-1} a b
	a=$(head -n1 /proc/stat)
	sleep "$secs"
	b=$(head -n1 /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '
		{ idle[NR] = $5 + $6; tot[NR] = 0
		  for (i = 2; i <= 9; i++) tot[NR] += $i }
		END { dt = tot[2] - tot[1]; di = idle[2] - idle[1]
		      printf "%.1f\n", (dt > 0 ? 100 * (dt - di) / dt : 0) }'
}

# Connections the kernel refused for a full accept queue, machine-wide
# (TcpExt ListenOverflows + ListenDrops): take the difference over a case.
bench_listen_drops() {
	awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1; next }
		for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows" || k[i] == "ListenDrops") s += $i }
		END { print s + 0 }' /proc/net/netstat
}

bench_wait_http() {
	local port=$1 secs=${2:-10} i=0
	while test $i -lt $((secs * 10)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

bench_children() {
	pgrep -P "$1" || true
}

# bench_json_num KEY FILE: the value of "KEY":<number|null> (first match).
bench_json_num() {
	local v
	v=$(grep -o "\"$1\":[-0-9.eE+a-z]*" "$2" 2>/dev/null | head -n1 | cut -d: -f2)
	echo "${v:-null}"
}

# Median of the numeric arguments ("null", "" and "-" are skipped);
# prints nothing when there is none.
bench_median() {
	printf '%s\n' "$@" | awk '/^-?[0-9.]+([eE][-+]?[0-9]+)?$/' | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR == 0) exit
		      if (NR % 2) m = v[(NR + 1) / 2]
		      else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.6g\n", m }'
}

# Run a command in the background and wait: a trapped signal interrupts
# `wait` at once (a foreground child would be waited for first).  The
# command's status is returned; bench_cleanup kills it if still running.
bench_bg() {
	local rc
	"$@" &
	BENCH_JOB=$!
	wait "$BENCH_JOB"
	rc=$?
	BENCH_JOB=
	return $rc
}

# ------------------------------------------------------------------ logcast

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# lc_start PORT [VAR=VALUE ...]: cmd/run.sh with a fresh data directory;
# waits until it says "running at".  Dies when it cannot start.
lc_start() {
	local port=$1 i
	shift
	test -n "$LC_PID" && bench_die "logcast already running (pid $LC_PID)"
	port_in_use "$port" && bench_die "port $port is in use (set BENCH_PORT=...)"
	port_in_use $((port + 1)) && bench_die "port $((port + 1)) is in use (set BENCH_PORT=...)"
	LC_DIR=$(mktemp -d /tmp/lcb.XXXXXX) || return 1
	chmod 755 "$LC_DIR"
	mkdir -p "$LC_DIR/run" "$LC_DIR/log"
	env PORT="$port" LOGCAST_DATA_DIR="$LC_DIR/var" \
		LOGCAST_RUN_DIR="$LC_DIR/run" LOGCAST_LOG_DIR="$LC_DIR/log" "$@" \
		"$LOGCAST_ROOT/cmd/run.sh" </dev/null >"$LC_DIR/run.log" 2>&1 &
	LC_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q 'running at' "$LC_DIR/run.log" && break
		kill -0 "$LC_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'running at' "$LC_DIR/run.log" || ! kill -0 "$LC_PID" 2>/dev/null; then
		sed 's/^/    /' "$LC_DIR/run.log" "$LC_DIR/log/lighttpd-error.log" >&2 2>/dev/null
		lc_stop
		bench_die "the logcast stack did not start on port $port"
	fi
	LC_LIGHTTPD=$(cat "$LC_DIR/run/lighttpd.pid" 2>/dev/null)
	test -n "$LC_LIGHTTPD" || LC_LIGHTTPD=$(pgrep -P "$LC_PID" -x lighttpd)
	LC_WSD=$(pgrep -P "$LC_PID" -x websocketd)
	LC_API=
	for ((i = 0; i < 50; i++)); do
		LC_API=$(pgrep -P "$LC_LIGHTTPD" -x logcast-api | head -n1)
		test -n "$LC_API" && break
		sleep 0.1
	done
	test -n "$LC_LIGHTTPD" && test -n "$LC_API" && test -n "$LC_WSD" || {
		lc_stop
		bench_die "cannot find lighttpd, logcast-api and websocketd of the stack"
	}
}

# Stop the stack: SIGTERM to run.sh (which stops lighttpd and websocketd,
# and kills what stays after 5 s), then SIGKILL to whatever of it is left,
# websocketd's children included.  Logs go to $LC_KEEP_LOGS if set.
lc_stop() {
	local i kids=
	test -n "$LC_PID" || { LC_DIR=''; return 0; }
	test -n "$LC_WSD" && kids=$(bench_children "$LC_WSD")
	kill -TERM "$LC_PID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$LC_PID" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL "$LC_PID" $LC_LIGHTTPD $LC_API $LC_WSD $kids 2>/dev/null
	wait "$LC_PID" 2>/dev/null
	# websocketd's children leave on their own once their socket is gone
	for ((i = 0; i < 50; i++)); do
		test -z "$kids" && break
		local left=
		for p in $kids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		kids=$left
		test -z "$kids" || sleep 0.1
	done
	if test -n "${LC_KEEP_LOGS:-}" && test -n "$LC_DIR"; then
		mkdir -p "$LC_KEEP_LOGS"
		cp "$LC_DIR/run.log" "$LC_KEEP_LOGS/run.log" 2>/dev/null
		cp "$LC_DIR"/log/*.log "$LC_KEEP_LOGS/" 2>/dev/null
	fi
	test -n "${BENCH_KEEP:-}" || rm -rf "$LC_DIR"
	LC_PID='' LC_DIR='' LC_LIGHTTPD='' LC_API='' LC_WSD=''
}

# -------------------------------------------------------------------- nchan

# nchan_start PORT: nginx in the foreground (daemon off), backgrounded
# here, so $NCHAN_PID is the master; waits for both workers and for an
# answer on /tiny.txt.
nchan_start() {
	local port=$1 i=0 n
	test -n "$NCHAN_PID" && bench_die "nchan already running (pid $NCHAN_PID)"
	test -r /usr/lib/nginx/modules/ngx_nchan_module.so ||
		bench_die "Nchan is missing: apt-get install nginx-light libnginx-mod-nchan"
	port_in_use "$port" && bench_die "port $port is in use (set BENCH_PORT=...)"
	NCHAN_DIR=$(mktemp -d /tmp/logcast-nchan.XXXXXX) || return 1
	chmod 755 "$NCHAN_DIR"	# workers run as an unprivileged user
	mkdir -p "$NCHAN_DIR/logs" "$NCHAN_DIR/tmp" "$NCHAN_DIR/html"
	printf 'ok' >"$NCHAN_DIR/html/tiny.txt"
	sed "s/@PORT@/$port/g" "$BENCH_DIR/nchan.conf" >"$NCHAN_DIR/nginx.conf"
	nginx -p "$NCHAN_DIR/" -c "$NCHAN_DIR/nginx.conf" \
		-e "$NCHAN_DIR/logs/error.log" -g 'daemon off;' \
		</dev/null >>"$NCHAN_DIR/logs/stdout.log" 2>&1 &
	NCHAN_PID=$!
	while :; do
		kill -0 "$NCHAN_PID" 2>/dev/null || {
			cat "$NCHAN_DIR/logs/error.log" "$NCHAN_DIR/logs/stdout.log" >&2
			NCHAN_PID=
			bench_die "nginx did not start"
		}
		n=$(bench_children "$NCHAN_PID" | wc -l)
		if test "$n" -ge 2 &&
			curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/tiny.txt"; then
			return 0
		fi
		i=$((i + 1))
		test $i -lt 100 || { nchan_stop; bench_die "nginx not answering on port $port"; }
		sleep 0.1
	done
}

nchan_pids() {
	{ echo "$NCHAN_PID"; bench_children "$NCHAN_PID"; } | paste -sd, -
}

# Graceful stop (QUIT), then KILL (master and workers) after 5 s; by pid.
nchan_stop() {
	local i=0 kids
	if test -n "$NCHAN_PID"; then
		kids=$(bench_children "$NCHAN_PID")
		kill -QUIT "$NCHAN_PID" 2>/dev/null
		while kill -0 "$NCHAN_PID" 2>/dev/null && test $i -lt 50; do
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$NCHAN_PID" 2>/dev/null; then
			echo "bench: nginx $NCHAN_PID ignored QUIT, killing it" >&2
			# shellcheck disable=SC2086
			kill -KILL "$NCHAN_PID" $kids 2>/dev/null
		fi
		wait "$NCHAN_PID" 2>/dev/null
		NCHAN_PID=
	fi
	if test -n "$NCHAN_DIR"; then
		test -n "${BENCH_KEEP:-}" || rm -rf "$NCHAN_DIR"
		NCHAN_DIR=
	fi
}

# Everything still running that we started: for the scripts' EXIT trap.
bench_cleanup() {
	if test -n "$BENCH_JOB"; then
		kill -TERM "$BENCH_JOB" 2>/dev/null
		wait "$BENCH_JOB" 2>/dev/null
		BENCH_JOB=
	fi
	lc_stop
	nchan_stop
}

# ------------------------------------------------------------------ results

# bench_results_init NAME: where this scenario writes.  Under run.sh,
# BENCH_OUT, BENCH_ROWS and BENCH_RUNS are given (one run, every script);
# alone, a fresh bench/results/NAME-DATE/ is used.
bench_results_init() {
	: "${BENCH_OUT:=$BENCH_DIR/results/$1-$(date +%Y%m%d-%H%M%S)}"
	: "${BENCH_ROWS:=$BENCH_OUT/rows.tsv}"
	: "${BENCH_RUNS:=$BENCH_OUT/runs.tsv}"
	export BENCH_OUT BENCH_ROWS BENCH_RUNS
	mkdir -p "$BENCH_OUT" || bench_die "cannot create $BENCH_OUT"
	test -e "$BENCH_ROWS" || printf '%s\n' "$BENCH_ROWS_HEAD" >"$BENCH_ROWS"
	test -e "$BENCH_RUNS" || printf '%s\n' "$BENCH_RUNS_HEAD" >"$BENCH_RUNS"
}

BENCH_ROWS_HEAD=$(printf '%s\t' scenario case metric unit logcast peer ratio target verdict | sed 's/\t$//')
BENCH_ROWS_HEAD="$BENCH_ROWS_HEAD	note"
BENCH_RUNS_HEAD=$(printf '%s\t' scenario case target rep bg_pct ok delivered expected errors \
	p50_ms p99_ms max_ms server_cpu_s us_per_delivery rss_kb_per_client \
	peak_kb_per_client pss_kb_per_client kernel_kb_per_client listen_drops | sed 's/\t$//')
BENCH_RUNS_HEAD="$BENCH_RUNS_HEAD	file	p99_warm_ms"

_bench_clean() { printf '%s' "$1" | tr '\t\n' '  '; }

# bench_row SCENARIO CASE METRIC UNIT LOGCAST [PEER [TARGET [NOTE]]]
#
# One figure of the summary: logcast's value, the peer's (Nchan, a static
# file, a raw baseline...) if any, and the target as "<=2.5" or ">=0.25"
# for the ratio logcast/peer (or, without a peer, for logcast's value
# itself); "abs:<=200" is a target for logcast's value even with a peer.
# The ratio and the verdict (met/missed) are computed here.
bench_row() {
	local sc=$1 cs=$2 me=$3 un=$4 lv=$5 pv=${6:-} tg=${7:-} nt=${8:-}
	local ratio verdict
	ratio=$(awk -v a="$lv" -v b="$pv" 'BEGIN {
		if (a ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ && b ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ && b + 0 > 0)
			printf "%.3g", a / b }')
	verdict=$(awk -v r="$ratio" -v a="$lv" -v b="$pv" -v t="$tg" 'BEGIN {
		if (t == "") exit
		x = (b != "") ? r : a
		if (t ~ /^abs:/) { x = a; t = substr(t, 5) }
		if (x !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) { print "n/a"; exit }
		op = substr(t, 1, 2); lim = substr(t, 3) + 0
		if (op == "<=") print (x + 0 <= lim ? "met" : "missed")
		else if (op == ">=") print (x + 0 >= lim ? "met" : "missed")
		else print "n/a" }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(_bench_clean "$sc")" \
		"$(_bench_clean "$cs")" "$(_bench_clean "$me")" "$(_bench_clean "$un")" \
		"$(_bench_clean "$lv")" "$(_bench_clean "$pv")" "$ratio" \
		"$(_bench_clean "$tg")" "$verdict" "$(_bench_clean "$nt")" >>"$BENCH_ROWS"
}

# bench_run_row FIELD...: one run (one server, one measurement), in the
# columns of BENCH_RUNS_HEAD.
bench_run_row() {
	local out='' f
	for f in "$@"; do out="$out$(_bench_clean "$f")	"; done
	printf '%s\n' "${out%	}" >>"$BENCH_RUNS"
}

# bench_table ROWS [SCENARIO]: Markdown table of the rows (of one scenario).
bench_table() {
	awk -F'\t' -v only="${2:-}" '
		NR == 1 { next }
		only != "" && $1 != only { next }
		{
			if (!hdr++) {
				print "| scenario | case | metric | logcast | peer | ratio | target | verdict | note |"
				print "|---|---|---|---:|---:|---:|---|---|---|"
			}
			unit = ($4 != "") ? " " $4 : ""
			lv = ($5 != "") ? $5 unit : "-"
			pv = ($6 != "") ? $6 unit : ""
			v = $9 == "met" ? "met" : $9 == "missed" ? "**MISSED**" : $9
			tg = $8; gsub(/<=/, "≤ ", tg); gsub(/>=/, "≥ ", tg)
			if (sub(/^abs:/, "", tg)) tg = tg unit " (value)"
			else if (tg != "" && $6 != "") tg = tg " x"
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				$1, $2, $3, lv, pv, $7, tg, v, $10
		}' "$1"
}

# bench_runs_col CASE TARGET COLUMN: that column of every run of CASE
# against TARGET in BENCH_RUNS, one a line.
bench_runs_col() {
	awk -F'\t' -v c="$1" -v t="$2" -v col="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) k = i; next }
		k && $2 == c && $3 == t { print $k }' "$BENCH_RUNS"
}

# bench_runs_median CASE TARGET COLUMN: their median.
bench_runs_median() {
	# shellcheck disable=SC2046
	bench_median $(bench_runs_col "$@")
}

# bench_runs_list CASE TARGET COLUMN: "a/b/c", for notes.
bench_runs_list() {
	bench_runs_col "$@" | paste -sd/ -
}

# bench_runs_sum CASE TARGET COLUMN
bench_runs_sum() {
	bench_runs_col "$@" | awk '{ s += $1 } END { print s + 0 }'
}

# bench_delivery_rows SCENARIO CASE P99_TARGET: the rows every fan-out
# case has, logcast against nchan - all deliveries, then p50, p99 (with its
# target, the single runs and the background load) and max latency.
# Returns 1 when a delivery was missing in any run.
bench_delivery_rows() {
	local sc=$1 c=$2 target=$3 t d e err rc=0 note
	local -A del
	for t in logcast nchan; do
		d=$(bench_runs_sum "$c" $t delivered)
		e=$(bench_runs_sum "$c" $t expected)
		err=$(bench_runs_sum "$c" $t errors)
		if test "$d" != "$e" || test "$e" = 0; then
			echo "bench: $sc $c on $t: $d of $e deliveries" >&2
			rc=1
		fi
		del[$t]="$d/$e, errors $err"
	done
	note="bg% logcast $(bench_runs_list "$c" logcast bg_pct), nchan $(bench_runs_list "$c" nchan bg_pct)"
	bench_row "$sc" "$c" "delivered (all runs)" "" "${del[logcast]}" "${del[nchan]}" "" \
		"listen-queue drops $(bench_runs_sum "$c" logcast listen_drops)/$(bench_runs_sum "$c" nchan listen_drops)"
	bench_row "$sc" "$c" "p50 publish->delivery" ms \
		"$(bench_runs_median "$c" logcast p50_ms)" "$(bench_runs_median "$c" nchan p50_ms)"
	bench_row "$sc" "$c" "p99 publish->delivery" ms \
		"$(bench_runs_median "$c" logcast p99_ms)" "$(bench_runs_median "$c" nchan p99_ms)" "$target" \
		"runs: $(bench_runs_list "$c" logcast p99_ms) vs $(bench_runs_list "$c" nchan p99_ms); $note"
	bench_row "$sc" "$c" "max publish->delivery" ms \
		"$(bench_runs_median "$c" logcast max_ms)" "$(bench_runs_median "$c" nchan max_ms)"
	bench_row "$sc" "$c" "p99 of rounds 2.. (every subscriber's first message left out)" ms \
		"$(bench_runs_median "$c" logcast p99_warm_ms)" "$(bench_runs_median "$c" nchan p99_warm_ms)" "" \
		"runs: $(bench_runs_list "$c" logcast p99_warm_ms) vs $(bench_runs_list "$c" nchan p99_warm_ms); for comparison only: the target is on the p99 of all rounds"
	return $rc
}

# Fields of a fanout --json result for bench_run_row, from "ok" on:
# ok delivered expected errors p50 p99 max server_cpu_s us/delivery
# rss/client peak/client pss/client kernel/client
bench_fanout_fields() {
	local j=$1 d cpu
	d=$(bench_json_num delivered "$j")
	cpu=$(bench_json_num server_cpu_s "$j")
	printf '%s\n' "$(bench_json_num ok "$j")" "$d" "$(bench_json_num expected "$j")" \
		"$(bench_json_num total "$j")" "$(bench_json_num p50 "$j")" \
		"$(bench_json_num p99 "$j")" "$(bench_json_num max "$j")" "$cpu" \
		"$(awk -v c="$cpu" -v d="$d" 'BEGIN { if (c ~ /^[0-9.]+$/ && d > 0) printf "%.1f", c * 1e6 / d; else print "null" }')" \
		"$(bench_json_num server_rss_per_client_kb "$j")" \
		"$(bench_json_num server_rss_peak_per_client_kb "$j")" \
		"$(bench_json_num server_pss_per_client_kb "$j")" \
		"$(bench_json_num server_kernel_per_client_kb "$j")"
}

# bench_cpu_ticks PID...: their utime+stime so far, in clock ticks.
bench_cpu_ticks() {
	local p s=0 t
	for p in "$@"; do
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null)
		s=$((s + ${t:-0}))
	done
	echo "$s"
}

# bench_wrk OUT URL [wrk options...]: run wrk --latency, its output to OUT
# (not in a subshell: the EXIT trap must be able to stop it).
bench_wrk() {
	local out=$1 url=$2
	shift 2
	bench_bg wrk --latency "$@" "$url" >"$out" 2>&1
}

# bench_wrk_figures OUT: "req/s non2xx socket_errors p50_ms p99_ms".
bench_wrk_figures() {
	awk '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v
		}
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		/Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END { printf "%s %d %d %s %s\n", (rps == "" ? "null" : rps), non2xx, err,
			(p50 == "" ? "null" : p50), (p99 == "" ? "null" : p99) }' "$1"
}
