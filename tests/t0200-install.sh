#!/bin/bash
test_description='make install: the layout, the units, and the installed stack serving for real'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-http.sh"

root="$TRASH_DIRECTORY/root"

test_expect_success 'make install into a staging directory' '
	(cd "$TOP" && make -s install DESTDIR="$root" PREFIX=/usr SYSCONF=/etc/logcast \
		UNITDIR=/lib/systemd/system) >install.log 2>&1 &&
	test -x "$root/usr/bin/logcast" &&
	for p in logcast-api logcast-ws cgi/webhooks cgi/receiver logcast-dispatch
	do
		test -x "$root/usr/lib/logcast/$p" || return 1
	done &&
	test -f "$root/usr/share/logcast/www/index.html" &&
	test -f "$root/usr/share/logcast/errors/status-404.html" &&
	test -f "$root/etc/logcast/lighttpd.conf" &&
	test -f "$root/etc/logcast/apache.conf" &&
	test -f "$root/etc/logcast/logcast.env"
'

test_expect_success 'every unit runs an installed program as an unprivileged user' '
	for u in logcast-api logcast-ws logcast-dispatch logcast-lighttpd
	do
		f="$root/lib/systemd/system/$u.service" &&
		test -f "$f" &&
		! grep "@[A-Z]*@" "$f" &&
		grep "^User=logcast$" "$f" &&
		grep "^ExecStart=" "$f" >exec &&
		for path in $(grep -o "/usr/[a-z/_.-]*" exec)
		do
			case "$path" in
			/usr/bin/websocketd|/usr/sbin/lighttpd) test -x "$path" ;;
			*) test -e "$root$path" ;;
			esac || { echo "missing $path in $u"; return 1; }
		done || return 1
	done
'

test_expect_success 'systemd accepts the units (when systemd-analyze is here)' '
	if command -v systemd-analyze >/dev/null
	then
		for u in "$root"/lib/systemd/system/*.service
		do
			systemd-analyze verify "$u" 2>verify.err
			! grep -i "error\|unknown" verify.err || return 1
		done
	else
		say "# systemd-analyze not installed: units checked by content only"
	fi
'

test_expect_success LIGHTTPD 'the installed lighttpd.conf serves the installed programs' '
	unit="$root/lib/systemd/system/logcast-lighttpd.service" &&
	# the unit'"'"'s environment, paths moved into the staging root
	sed -n "s/^Environment=//p" "$unit" | sed "s|=/usr/|=$root/usr/|g" >env.raw &&
	test_set_port P &&
	{
		while read -r line
		do
			eval "export $line" || return 1
		done <env.raw
	} &&
	export LOGCAST_BIND=127.0.0.1 LOGCAST_PORT=$P LOGCAST_RUN_DIR="$RUN_DIR/inst" \
		LOGCAST_LOG_DIR="$TRASH_DIRECTORY/log" LOGCAST_DATA_DIR="$TRASH_DIRECTORY/var" &&
	mkdir -p "$LOGCAST_RUN_DIR" "$LOGCAST_LOG_DIR" &&
	lighttpd -tt -f "$root/etc/logcast/lighttpd.conf" &&
	{ lighttpd -D -f "$root/etc/logcast/lighttpd.conf" & } &&
	pid=$! &&
	test_when_finished "kill $pid; wait $pid" &&
	test_wait_until 20 "curl -sf -o /dev/null http://127.0.0.1:$P/api/health" &&
	http POST "http://127.0.0.1:$P/api/channels/inst/messages" -d "\"installed\"" &&
	test_status 201 &&
	http GET "http://127.0.0.1:$P/" &&
	test_status 200 &&
	grep -i "logcast" out
'

test_expect_success 'make uninstall removes what install put there, keeps the settings' '
	(cd "$TOP" && make -s uninstall DESTDIR="$root" PREFIX=/usr SYSCONF=/etc/logcast \
		UNITDIR=/lib/systemd/system) >uninstall.log 2>&1 &&
	test_path_is_missing "$root/usr/bin/logcast" &&
	test_path_is_missing "$root/usr/lib/logcast" &&
	test_path_is_missing "$root/lib/systemd/system/logcast-api.service" &&
	test -f "$root/etc/logcast/logcast.env"
'

test_done
