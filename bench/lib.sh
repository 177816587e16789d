# lib.sh - helpers sourced by the bench scripts (bash).
#
#	. "$(dirname "$0")/lib.sh"
#
#	bench_nofile                  raise `ulimit -n` to the hard limit
#	bench_build_fanout            build fanout.c, print the binary's path
#	bench_busy_pct [SECONDS]      machine-wide busy CPU % over SECONDS (1)
#	bench_wait_http PORT [SECS]   wait until 127.0.0.1:PORT answers HTTP
#	bench_children PID            the pids of PID's children, one a line
#	nchan_start PORT              start nginx + Nchan from nchan.conf
#	nchan_pids                    master and workers, comma-separated
#	nchan_stop                    stop it (by pid) and drop its scratch dir
#
# Binaries go to $BENCH_BIN (default bench/results/bin, gitignored);
# nginx runs in a scratch directory under /tmp.  Everything started here
# is stopped by pid, never by name: other nginx processes on the machine
# are left alone.  Set BENCH_KEEP=1 to keep the scratch directory (logs).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BENCH_BIN:=$BENCH_DIR/results/bin}"
: "${CC:=gcc}"

NCHAN_PID=
NCHAN_DIR=

bench_die() {
	echo "bench: $*" >&2
	exit 1
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

# nchan_start PORT: nginx in the foreground (daemon off), backgrounded
# here, so $NCHAN_PID is the master; waits for both workers and for an
# answer on /tiny.txt.
nchan_start() {
	local port=$1 i=0 n
	test -n "$NCHAN_PID" && bench_die "nchan already running (pid $NCHAN_PID)"
	test -r /usr/lib/nginx/modules/ngx_nchan_module.so ||
		bench_die "Nchan is missing: apt-get install nginx-light libnginx-mod-nchan"
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
