#!/bin/bash
# run.sh - what `make run` does: start the whole logcast stack in the
# foreground, report where it listens, and stop every process it started
# on Ctrl-C or SIGTERM (to this script, or to make, which passes SIGTERM
# on).
#
# Configuration is by environment (see the README); ports derive from PORT:
#   PORT                 lighttpd, default 8080
#   LOGCAST_WS_PORT      websocketd on loopback, default PORT+1
#   LOGCAST_DATA_DIR     the message log, default ./var
#   LOGCAST_RUN_DIR      pid file and sockets, default /tmp/logcast-UID-PORT
#   LOGCAST_MODE         fastcgi (default) or cgi: how lighttpd runs the API
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${PORT:=8080}"
: "${LOGCAST_BIND:=127.0.0.1}"
: "${LOGCAST_BUILD:=$ROOT/build}"
: "${LOGCAST_DATA_DIR:=$ROOT/var}"
: "${LOGCAST_RUN_DIR:=/tmp/logcast-$(id -u)-$PORT}"
: "${LOGCAST_LOG_DIR:=$LOGCAST_DATA_DIR/log}"
: "${LOGCAST_WWW:=$ROOT/www}"
: "${LOGCAST_WS_PORT:=$((PORT + 1))}"
: "${LOGCAST_WS_IDLE:=65535}"
: "${LOGCAST_WS_MAXFORKS:=4500}"
: "${LOGCAST_MODE:=fastcgi}"
: "${LOGCAST_ERRORS:=$ROOT/fcgi/errors}"
: "${LOGCAST_MAX_BODY:=65536}"
export LOGCAST_PORT=$PORT LOGCAST_BIND LOGCAST_BUILD LOGCAST_DATA_DIR \
	LOGCAST_RUN_DIR LOGCAST_LOG_DIR LOGCAST_WWW LOGCAST_WS_PORT \
	LOGCAST_WS_IDLE LOGCAST_WS_MAXFORKS LOGCAST_MODE LOGCAST_ERRORS \
	LOGCAST_MAX_BODY

# Which URLs the API programs answer; the other mode gets a pattern that
# matches nothing (every URL starts with "/").
api_urls='^/(api/(?!webhooks(/|$))|(messages|add|poll|orders)$)'
case "$LOGCAST_MODE" in
fastcgi) LOGCAST_FCGI_MATCH=$api_urls LOGCAST_CGI_MATCH='^$' ;;
cgi) LOGCAST_FCGI_MATCH='^$' LOGCAST_CGI_MATCH=$api_urls ;;
*) echo "logcast: LOGCAST_MODE must be fastcgi or cgi" >&2; exit 1 ;;
esac
export LOGCAST_FCGI_MATCH LOGCAST_CGI_MATCH

# lighttpd refuses bodies over the limit itself (413) before reading them;
# the programs check again, to the byte.
export LOGCAST_MAX_REQUEST_KB=$(( (LOGCAST_MAX_BODY + 1023) / 1024 + 1 ))

# What the programs read (see the README); listed so that the web servers
# and websocketd can pass them on to the processes they start.
config_vars="LOGCAST_DATA_DIR LOGCAST_PUBLISH_TOKEN LOGCAST_ADMIN_TOKEN
	LOGCAST_MAX_BODY LOGCAST_RETAIN LOGCAST_RETAIN_BYTES LOGCAST_FSYNC
	LOGCAST_SEGMENT_RECORDS LOGCAST_CORS_ORIGIN LOGCAST_POLL_TIMEOUT
	LOGCAST_SSE_KEEPALIVE LOGCAST_MAX_HELD"
# lighttpd.conf passes these to CGI programs by name: define them all
# (empty means "default") so the config can refer to them.
for v in $config_vars; do export "$v=${!v-}"; done

say() { printf 'logcast: %s\n' "$*" >&2; }
die() { say "$*"; stop; exit 1; }

case "$PORT" in
''|*[!0-9]*) say "PORT must be a number, not '$PORT'"; exit 1 ;;
esac

pids=()
stopping=

# Stop everything we started, newest first; each gets SIGTERM, then
# SIGKILL if it has not gone after 5 s.
stop() {
	[ -n "$stopping" ] && return
	stopping=t
	# make passes SIGTERM on to us while the same signal may reach our
	# process group: a second one must not cut the stopping short
	trap '' INT TERM HUP
	local i pid n
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		kill -TERM "$pid" 2>/dev/null
	done
	for ((n = 0; n < 50; n++)); do
		local alive=
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=t
		done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
}
trap 'stop; exit 0' INT TERM HUP
trap 'stop' EXIT

mkdir -p "$LOGCAST_DATA_DIR" "$LOGCAST_LOG_DIR" "$LOGCAST_RUN_DIR" ||
	die "cannot create $LOGCAST_DATA_DIR or $LOGCAST_RUN_DIR"
chmod 755 "$LOGCAST_RUN_DIR"

# Per-process file limit: lighttpd holds two descriptors per proxied
# client; raise the soft limit as far as the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
fds=$(ulimit -n)
[ "$fds" = unlimited ] && fds=65535
[ "$fds" -gt 65535 ] && fds=65535      # a 16-bit setting in lighttpd
export LOGCAST_MAX_FDS=${LOGCAST_MAX_FDS:-$fds}

port_busy() { (exec 3<>"/dev/tcp/$LOGCAST_BIND/$1") 2>/dev/null; }
port_busy "$PORT" && die "port $PORT is already in use (set PORT=...)"
port_busy "$LOGCAST_WS_PORT" &&
	die "port $LOGCAST_WS_PORT (websocketd, PORT+1) is already in use"

# ---------------------------------------------------------------------
# Webhooks (1 of 2): what the webhook programs read.  lighttpd.conf passes
# LOGCAST_WEBHOOK_ALLOW and LOGCAST_RECEIVER_SECRET to its CGI programs,
# so both are exported even when empty; logcast-dispatch reads them and
# LOGCAST_WEBHOOK_SCHEDULE / LOGCAST_WEBHOOK_TIMEOUT from our environment.
#   LOGCAST_WEBHOOK_DEMO=0     skip the demo receiver (default 1)
#   LOGCAST_RECEIVER_SECRET    the demo receiver's whsec_ secret: by default
#                              made once per data directory and kept in
#                              $LOGCAST_DATA_DIR/webhooks/demo-secret (0600)
# The demo receiver is this server's /hooks/receiver, on loopback, which
# the dispatcher refuses by default; exactly its address and port
# (127.0.0.1:$PORT) is added to LOGCAST_WEBHOOK_ALLOW, not the rest of
# loopback.
: "${LOGCAST_WEBHOOK_DEMO:=1}"
case "$LOGCAST_BIND" in
0.0.0.0 | '') demo_host=127.0.0.1 ;;
:: | '[::]') demo_host='[::1]' ;;
*:*) demo_host="[$LOGCAST_BIND]" ;;
*) demo_host=$LOGCAST_BIND ;;
esac
demo_url="http://$demo_host:$PORT/hooks/receiver"
if [ "$LOGCAST_WEBHOOK_DEMO" != 0 ]; then
	if [ -z "${LOGCAST_RECEIVER_SECRET-}" ]; then
		secret_file="$LOGCAST_DATA_DIR/webhooks/demo-secret"
		if [ ! -s "$secret_file" ]; then
			(umask 077 && mkdir -p "$LOGCAST_DATA_DIR/webhooks" &&
				printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w 0)" \
					>"$secret_file.tmp" && mv "$secret_file.tmp" "$secret_file") ||
				die "cannot write $secret_file"
		fi
		LOGCAST_RECEIVER_SECRET=$(cat "$secret_file")
	fi
	LOGCAST_WEBHOOK_ALLOW="${LOGCAST_WEBHOOK_ALLOW:+$LOGCAST_WEBHOOK_ALLOW,}$demo_host:$PORT"
fi
export LOGCAST_RECEIVER_SECRET="${LOGCAST_RECEIVER_SECRET-}" \
	LOGCAST_WEBHOOK_ALLOW="${LOGCAST_WEBHOOK_ALLOW-}" \
	LOGCAST_WEBHOOK_SCHEDULE="${LOGCAST_WEBHOOK_SCHEDULE-}" \
	LOGCAST_WEBHOOK_TIMEOUT="${LOGCAST_WEBHOOK_TIMEOUT-}"
# ------------------------------------------------------ end Webhooks (1)

conf="$ROOT/lighttpd.conf"
lighttpd -tt -f "$conf" >"$LOGCAST_RUN_DIR/lighttpd-check.log" 2>&1 ||
	die "lighttpd refuses $conf: $(cat "$LOGCAST_RUN_DIR/lighttpd-check.log")"

# Each daemon in its own session: we, not the terminal, decide when it
# stops, and lighttpd's signals to its process group stay its own.
setsid lighttpd -D -f "$conf" </dev/null &
pids+=($!)

# websocketd: one logcast-ws per WebSocket, loopback only (lighttpd
# proxies /ws to it).  --maxforks turns an overload into a clean HTTP 429.
# Even at --loglevel=error websocketd logs the URL of a socket it refuses,
# so ?token= values are redacted on the way to its log file.
passenv=PATH
for v in $config_vars; do passenv="$passenv,$v"; done
setsid websocketd --address=127.0.0.1 --port="$LOGCAST_WS_PORT" \
	--loglevel=error --maxforks="$LOGCAST_WS_MAXFORKS" --passenv="$passenv" \
	"$LOGCAST_BUILD/logcast-ws" </dev/null \
	> >(sed -u -E 's/([?&]token=)[^&'"'"' ]*/\1[redacted]/g' \
		>>"$LOGCAST_LOG_DIR/websocketd.log") 2>&1 &
pids+=($!)

url="http://$LOGCAST_BIND:$PORT/"
for ((n = 0; n < 100; n++)); do
	curl -s -o /dev/null "$url" && break
	kill -0 "${pids[0]}" 2>/dev/null ||
		die "lighttpd exited; see $LOGCAST_LOG_DIR/lighttpd-error.log"
	sleep 0.1
done
curl -s -o /dev/null "$url" && kill -0 "${pids[0]}" 2>/dev/null ||
	die "lighttpd does not answer on $url"
for ((n = 0; n < 100; n++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "${url}api/health")" = 200 ] && break
	sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "${url}api/health")" = 200 ] ||
	die "the API does not answer on ${url}api/health; see $LOGCAST_LOG_DIR/lighttpd-error.log"

# ---------------------------------------------------------------------
# Webhooks (2 of 2): the dispatcher, woken by the log (stopped like the
# others; LOGCAST_WEBHOOK_DISPATCH=0 leaves it out, for a deployment that
# runs logcast-dispatch --once from cron instead), and the demo receiver's
# registration for channels chat and orders - through the API, once per
# data directory and URL.  The admin token goes to curl in a 0600 file,
# never on a command line.
if [ "${LOGCAST_WEBHOOK_DISPATCH:-1}" != 0 ]; then
	setsid "$LOGCAST_BUILD/logcast-dispatch" --watch </dev/null \
		>>"$LOGCAST_LOG_DIR/dispatch.log" 2>&1 &
	pids+=($!)
fi
if [ "$LOGCAST_WEBHOOK_DEMO" != 0 ]; then
	curl_auth="$LOGCAST_RUN_DIR/webhooks-curl.cfg"
	(umask 077 && : >"$curl_auth") || die "cannot write $curl_auth"
	[ -n "$LOGCAST_ADMIN_TOKEN" ] &&
		printf 'header = "Authorization: Bearer %s"\n' "$LOGCAST_ADMIN_TOKEN" >"$curl_auth"
	if ! curl -s -K "$curl_auth" "${url}api/webhooks" |
		grep -qF "\"url\":\"$demo_url\""; then
		code=$(printf '{"url":"%s","channels":["chat","orders"],"secret":"%s"}' \
			"$demo_url" "$LOGCAST_RECEIVER_SECRET" |
			curl -s -o /dev/null -w '%{http_code}' -K "$curl_auth" \
				-H 'Content-Type: application/json' --data-binary @- \
				"${url}api/webhooks")
		[ "$code" = 201 ] ||
			say "could not register the demo webhook receiver (HTTP $code)"
	fi
	rm -f "$curl_auth"
	say "webhooks: channels chat and orders are delivered to $demo_url"
fi
# ------------------------------------------------------ end Webhooks (2)

say "running at $url (API in $LOGCAST_MODE mode, data in $LOGCAST_DATA_DIR)"
[ -z "$LOGCAST_PUBLISH_TOKEN" ] &&
	say "LOGCAST_PUBLISH_TOKEN is unset: anyone who can reach the port may publish"
say "press Ctrl-C to stop"

# Wait until a signal arrives (its trap stops everything) or a daemon
# dies: `wait -n` returns at either, with no polling.  A pid that is no
# longer our child (already reaped) makes it return at once, and then
# kill -0 fails for it too, so this cannot spin.
while :; do
	wait -n "${pids[@]}" 2>/dev/null
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			die "process $pid exited; stopping (logs in $LOGCAST_LOG_DIR)"
		fi
	done
done
