# lib-http.sh - small helpers for HTTP tests (curl).
#
#	http GET "$BASE/api/health"              # body in out, headers in out.h
#	http POST "$BASE/..." -d '{"a":1}'       # extra curl arguments follow
#	test "$(cat out.status)" = 200
#	test_status 201                          # same, with a message on failure
#	test_header X-Last-Id 3                  # a response header's value
#	test_json_error 400                      # status, and {"error":"..."}
#	health_field held_long_polls             # a number from /api/health

# http METHOD URL [curl args...]: response to ./out, ./out.h, ./out.status
http() {
	local method=$1 url=$2
	shift 2
	curl -s -X "$method" -o out -D out.h -w '%{http_code}' "$@" "$url" >out.status
}

test_status() {
	if test "$(cat out.status)" != "$1"
	then
		echo >&4 "expected HTTP $1, got $(cat out.status):"
		cat out.h out >&4
		return 1
	fi
}

# The value of a response header (case-insensitive name), CR stripped.
header_value() {
	tr -d '\r' <out.h | sed -n "s/^$1: //Ip" | tail -n 1
}

test_header() {
	local got
	got=$(header_value "$1")
	if test "$got" != "$2"
	then
		echo >&4 "header $1: expected '$2', got '$got'"
		cat out.h >&4
		return 1
	fi
}

test_json_error() {
	test_status "$1" &&
	grep -q '^{"error":"[^"]' out &&
	test "$(header_value Content-Type)" = application/json || {
		echo >&4 "not a JSON error:"
		cat out.h out >&4
		return 1
	}
}

# The log as it is now, for "nothing changed" comparisons.
log_snapshot() {
	{ logcast stats; for c in $(logcast channels); do logcast read "$c"; done; } >"$1"
}

# health_field NAME: the numeric field NAME of $BASE/api/health
health_field() {
	curl -s "$BASE/api/health" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
