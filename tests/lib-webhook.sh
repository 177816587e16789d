# lib-webhook.sh - helpers for the webhook tests (source after
# lib-stack.sh and lib-http.sh).
#
#	receiver_start NAME PORT...     a real receiver (lib-receiver.js) on
#	                                those ports; its records go to
#	                                $TRASH_DIRECTORY/NAME/*.log
#	receiver_stop NAME              stop it (also done when the script ends)
#	receiver_mode NAME MODE [PATH]  how it answers (all paths, or one)
#	receiver_count NAME [LOG]       requests recorded (all, or one path's)
#	receiver_field NAME FIELD [LOG] one field of every record, one a line
#	wh_register URL CHANNEL...      register with $WH_SECRET; id in WH_ID
#	wh_get ID                       GET /api/webhooks/ID into ./out
#	json FILE EXPR                  EXPR (JavaScript, the JSON is `o`)
#	wh_field ID EXPR                json of GET /api/webhooks/ID
#	wh_attempts ID EXPR             json of GET .../attempts
#	wh_receiver_port                RPORT for the script's receiver, and
#	                                the allow that lets the dispatcher
#	                                reach exactly it on loopback
#	dispatch ARGS...                run build/logcast-dispatch (stderr to
#	                                $TRASH_DIRECTORY/dispatch.log)
#	dispatch_bg ARGS...             the same in the background, its pid in
#	                                DISPATCH_PID (stopped when the script ends)
#	dispatch_stop [SIGNAL]          stop it (TERM by default); its status
#	                                in DISPATCH_RC
#
# A receiver's LOG name is its URL path with slashes as dashes ("/hook/3"
# is hook-3, see lib-receiver.js); `all` holds every request.

WH_SECRET="whsec_$(head -c 32 /dev/urandom | base64 -w 0)"
WH_AUTH="Authorization: Bearer ${LOGCAST_ADMIN_TOKEN:-none}"
export WH_SECRET

receiver_start() {
	local name=$1 dir="$TRASH_DIRECTORY/$1" args= p pid
	shift
	mkdir -p "$dir" || return 1
	rm -f "$dir"/ready.*
	for p
	do
		args="$args --port $p"
	done
	node "$TEST_DIRECTORY/lib-receiver.js" --dir "$dir" --secret "$WH_SECRET" \
		$args >>"$dir/stderr" 2>&1 &
	pid=$!
	eval "RECV_PID_$name=$pid"
	test_atexit "receiver_stop $name"
	for p
	do
		test_wait_until 10 "test -f '$dir/ready.$p' || ! kill -0 $pid" &&
		test -f "$dir/ready.$p" || {
			cat "$dir/stderr" >&4
			return 1
		}
	done
}

receiver_stop() {
	local pid
	eval "pid=\${RECV_PID_$1:-}"
	test -n "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "RECV_PID_$1="
}

receiver_mode() {
	if test -n "${3:-}"
	then
		echo "$2" >"$TRASH_DIRECTORY/$1/$3.mode"
	else
		echo "$2" >"$TRASH_DIRECTORY/$1/mode"
	fi
}

receiver_count() {
	local f="$TRASH_DIRECTORY/$1/${2:-all}.log"
	if test -f "$f"
	then
		wc -l <"$f"
	else
		echo 0
	fi
}

receiver_field() {
	node -e '
		const fs = require("fs");
		let t = "";
		try { t = fs.readFileSync(process.argv[1], "utf8"); } catch (e) {}
		for (const l of t.split("\n")) {
			if (!l) continue;
			const v = JSON.parse(l)[process.argv[2]];
			console.log(v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
		}' "$TRASH_DIRECTORY/$1/${3:-all}.log" "$2"
}

json() {
	node -e '
		const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const v = eval(process.argv[2]);
		console.log(v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
	' "$1" "$2"
}

wh_register() {
	local url=$1 chans= c
	shift
	for c
	do
		chans="$chans${chans:+,}\"$c\""
	done
	http POST "$BASE/api/webhooks" -H "$WH_AUTH" -H "Content-Type: application/json" \
		--data-binary "{\"url\":\"$url\",\"channels\":[$chans],\"secret\":\"$WH_SECRET\"}" &&
	test_status 201 &&
	WH_ID=$(sed -n 's/^{"id":"\(wh_[0-9a-f]*\)".*/\1/p' out) &&
	test -n "$WH_ID"
}

wh_get() {
	curl -s -H "$WH_AUTH" -o out "$BASE/api/webhooks/$1"
}

wh_field() {
	curl -s -H "$WH_AUTH" -o wh.json "$BASE/api/webhooks/$1" &&
	json wh.json "$2"
}

wh_attempts() {
	curl -s -H "$WH_AUTH" -o wh-attempts.json "$BASE/api/webhooks/$1/attempts" &&
	json wh-attempts.json "$2"
}

dispatch() {
	"$BUILD/logcast-dispatch" "$@" 2>>"$TRASH_DIRECTORY/dispatch.log"
}

dispatch_bg() {
	"$BUILD/logcast-dispatch" "$@" </dev/null 2>>"$TRASH_DIRECTORY/dispatch.log" &
	DISPATCH_PID=$!
	test_atexit "dispatch_stop"
}

dispatch_stop() {
	test -n "${DISPATCH_PID:-}" || return 0
	kill -"${1:-TERM}" "$DISPATCH_PID" 2>/dev/null
	wait "$DISPATCH_PID" 2>/dev/null
	DISPATCH_RC=$?
	DISPATCH_PID=
}

# The receiver and the verifier need Node.js and the pinned packages.
test_have_prereq NODE,STDWEBHOOKS && test_set_prereq RECEIVER

wh_receiver_port() {
	test_set_port RPORT
	export LOGCAST_WEBHOOK_ALLOW="127.0.0.1:$RPORT"
}
