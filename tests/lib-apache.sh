# lib-apache.sh - start Debian's apache2 with the project's apache.conf,
# the FastCGI daemon (logcast-api --socket) and websocketd, all as
# www-data, on this script's own ports.
#
#	. "$TEST_DIRECTORY/lib-apache.sh"
#	apache_start [-D LOGCAST_CGI]     # sets BASE and WSBASE
#	apache_stop

test_lazy_prereq APACHE '
	command -v apache2 && test -e /usr/lib/apache2/modules/mod_proxy_fcgi.so &&
	id www-data && command -v runuser
'

apache_setup_done=
apache_setup() {
	test -n "$apache_setup_done" && return 0
	test_set_port APACHE_PORT
	test_set_port APACHE_WS_PORT
	apache_setup_done=t
	test_atexit apache_stop
	export LOGCAST_BIND=127.0.0.1 LOGCAST_PORT=$APACHE_PORT
	export LOGCAST_WS_PORT=$APACHE_WS_PORT
	export LOGCAST_WWW="$TOP/www" LOGCAST_BUILD="$BUILD" LOGCAST_ERRORS="$TOP/fcgi/errors"
	export LOGCAST_RUN_DIR="$RUN_DIR/apache"
	export LOGCAST_DATA_DIR="$TRASH_DIRECTORY/var"
	export LOGCAST_MAX_BODY=${LOGCAST_MAX_BODY:-65536}
	# every variable apache.conf refers to must be defined (empty = default)
	for v in LOGCAST_PUBLISH_TOKEN LOGCAST_ADMIN_TOKEN LOGCAST_RETAIN LOGCAST_FSYNC \
		LOGCAST_POLL_TIMEOUT LOGCAST_SSE_KEEPALIVE LOGCAST_WEBHOOK_ALLOW \
		LOGCAST_RECEIVER_SECRET
	do
		export "$v=${!v-}"
	done
	mkdir -p "$LOGCAST_RUN_DIR" "$LOGCAST_DATA_DIR" "$TRASH_DIRECTORY/log" &&
	chown www-data:www-data "$LOGCAST_RUN_DIR" "$LOGCAST_DATA_DIR" "$TRASH_DIRECTORY/log" &&
	modules=$(for m in mpm_event authz_core alias dir mime env headers proxy \
		proxy_fcgi proxy_http cgid rewrite
	do
		echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
	done) &&
	cat >"$TRASH_DIRECTORY/httpd.conf" <<-EOF_CONF
	ServerRoot /etc/apache2
	$modules
	User www-data
	Group www-data
	PidFile $LOGCAST_RUN_DIR/httpd.pid
	ScriptSock $LOGCAST_RUN_DIR/cgid.sock
	ErrorLog $TRASH_DIRECTORY/log/apache-error.log
	LogLevel warn
	TypesConfig /etc/mime.types
	Include $TOP/apache.conf
	EOF_CONF
}

apache_start() {
	apache_setup || return 1
	BASE="http://127.0.0.1:$APACHE_PORT"
	WSBASE="ws://127.0.0.1:$APACHE_PORT"
	export BASE WSBASE
	runuser -u www-data -- "$BUILD/logcast-api" --socket "$LOGCAST_RUN_DIR/api.sock" \
		>>"$TRASH_DIRECTORY/log/api.log" 2>&1 &
	apache_api_pid=$!
	runuser -u www-data -- websocketd --address=127.0.0.1 --port="$APACHE_WS_PORT" \
		--loglevel=error --passenv=PATH,LOGCAST_DATA_DIR,LOGCAST_PUBLISH_TOKEN,LOGCAST_MAX_BODY \
		"$BUILD/logcast-ws" >>"$TRASH_DIRECTORY/log/websocketd.log" 2>&1 &
	apache_ws_pid=$!
	apache2 -f "$TRASH_DIRECTORY/httpd.conf" -DFOREGROUND "$@" \
		>>"$TRASH_DIRECTORY/log/apache-start.log" 2>&1 &
	apache_pid=$!
	test_wait_until 20 'test "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/api/health")" = 200' || {
		cat "$TRASH_DIRECTORY/log/"*.log >&4
		return 1
	}
}

apache_stop() {
	local p
	for p in ${apache_pid:-} ${apache_api_pid:-} ${apache_ws_pid:-}
	do
		kill -TERM "$p" 2>/dev/null
	done
	for p in ${apache_pid:-} ${apache_api_pid:-} ${apache_ws_pid:-}
	do
		wait "$p" 2>/dev/null
	done
	apache_pid= apache_api_pid= apache_ws_pid=
	return 0
}
