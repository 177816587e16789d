#!/bin/sh
# deps.sh - make sure the Debian packages a make target needs are there.
#
#   cmd/deps.sh build|run|check|bench
#
# As root, missing packages are installed with apt-get (without starting
# the system services those packages ship: a policy-rc.d is in place for
# the duration).  Otherwise the exact apt-get line is printed and the
# script fails, so `make run` / `make check` stop with instructions.
set -u

build="gcc make pkg-config libc6-dev libfcgi-dev libjansson-dev libcurl4-openssl-dev libssl-dev"
run="$build lighttpd websocketd curl procps"
check="$run apache2 perl util-linux iproute2 chromium fonts-dejavu-core"
bench="$run nginx-light libnginx-mod-nchan wrk"

case "${1:-}" in
build) want=$build ;;
run) want=$run ;;
check) want=$check ;;
bench) want=$bench ;;
*) echo "usage: $0 build|run|check|bench" >&2; exit 2 ;;
esac

# Node.js with npm drives the browser and webhook-verifier tests; any
# installation on PATH will do (Debian's nodejs is used when none is).
if [ "$1" = check ] && ! command -v npm >/dev/null 2>&1; then
	want="$want nodejs npm"
fi

missing=
for p in $want; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$s" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "logcast: these Debian packages are needed for 'make $1':$missing" >&2
	echo "install them with:" >&2
	echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

echo "logcast: installing$missing" >&2
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && made_policy=t
fi
export DEBIAN_FRONTEND=noninteractive
rc=0
if ! apt-get install -y -q --no-install-recommends $missing >/tmp/logcast-apt.log 2>&1; then
	apt-get update -q >>/tmp/logcast-apt.log 2>&1
	apt-get install -y -q --no-install-recommends $missing >>/tmp/logcast-apt.log 2>&1 || rc=$?
fi
[ -n "$made_policy" ] && rm -f $policy
if [ $rc != 0 ]; then
	tail -20 /tmp/logcast-apt.log >&2
	echo "logcast: apt-get failed (full log: /tmp/logcast-apt.log)" >&2
	exit 1
fi
exit 0
