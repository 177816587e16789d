# test-lib.sh - the test harness, in the style of git's t/test-lib.sh.
#
# A test script sets test_description, sources this file, runs a sequence
# of test_expect_success and ends with test_done:
#
#	test_description='what this script covers'
#	. "$(dirname "$0")/test-lib.sh"
#	test_expect_success 'a title' '
#		some command &&
#		another command
#	'
#	test_done
#
# Output is TAP on stdout (for prove).  Options: -v (show the output of
# the tests), -x (trace them), -d (keep the trash directory), -i (stop at
# the first failure).  Each script runs in its own trash directory,
# tests/trash/<script>, with its own ports (test_set_port) and a short
# runtime directory for unix sockets ($RUN_DIR, under /tmp, so socket paths
# stay under the 108-byte limit wherever the checkout lives).
#
# Servers a test starts are stopped with test_atexit (or
# test_when_finished for one test); both run even when the script fails or
# is interrupted.  A missing tool is a prerequisite that is not set: the
# tests needing it are reported as skipped, visibly.

if test -z "${test_description:-}"; then
	echo "$0: test_description must be set before sourcing test-lib.sh" >&2
	exit 1
fi

TEST_DIRECTORY=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$TEST_DIRECTORY/.." && pwd)
BUILD=${LOGCAST_BUILD:-$TOP/build}
LOGCAST_BUILD=$BUILD
export LOGCAST_BUILD
TEST_NAME=$(basename "$0" .sh)
TEST_NUMBER=${TEST_NAME#t}
TEST_NUMBER=${TEST_NUMBER%%-*}
export TOP BUILD TEST_DIRECTORY
PATH="$BUILD:$PATH"
export PATH

verbose= debug= trace= immediate=
for arg
do
	case "$arg" in
	-v|--verbose) verbose=t ;;
	-x) trace=t; verbose=t ;;
	-d|--debug) debug=t ;;
	-i|--immediate) immediate=t ;;
	*) echo "$0: unknown option $arg" >&2; exit 1 ;;
	esac
done
test -n "${LOGCAST_TEST_VERBOSE:-}" && verbose=t

test_count=0
test_success=0
test_failure=0
test_fixed=0
test_broken=0
test_skipped=0
test_cleanup=:
test_atexit_cleanup=:
test_prereqs=' '
test_lazy_names=' '
test_failed_titles=

exec 5>&1 6>&2
if test -n "$verbose"
then
	exec 3>&2 4>&2
else
	exec 3>/dev/null 4>/dev/null
fi

say() { printf '%s\n' "$*" >&5; }
# Print a measurement as a TAP comment, visible in prove's verbose output
# and in the summary of make check.
test_measured() { printf '# measured: %s\n' "$*" >&5; printf '%s: %s\n' "$TEST_NAME" "$*" >>"$TEST_DIRECTORY/results/measured.txt"; }

TRASH_DIRECTORY="$TEST_DIRECTORY/trash/$TEST_NAME"
rm -rf "$TRASH_DIRECTORY"
mkdir -p "$TRASH_DIRECTORY" "$TEST_DIRECTORY/results" || exit 1
RUN_DIR=$(mktemp -d /tmp/lc.XXXXXX) || exit 1
chmod 755 "$RUN_DIR"
export RUN_DIR TRASH_DIRECTORY
export LOGCAST_DATA_DIR="$TRASH_DIRECTORY/var"
export LOGCAST_RUN_DIR="$RUN_DIR"
cd "$TRASH_DIRECTORY" || exit 1

# Ports: derived from the script's number (base + 2 x number; the base is
# 10000, or LOGCAST_TEST_PORT_BASE to run a second suite beside the first,
# e.g. 20000), so scripts can run in parallel without colliding as long as
# their numbers are at least 5 apart (10 ports each).  test_set_port VAR
# assigns the next.
test_port_next=$((${LOGCAST_TEST_PORT_BASE:-10000} + 10#$TEST_NUMBER * 2))
test_set_port() {
	eval "$1=$test_port_next"
	export "$1"
	test_port_next=$((test_port_next + 1))
}

test_set_prereq() { test_prereqs="$test_prereqs$1 "; }

test_lazy_prereq() {
	test_lazy_names="$test_lazy_names$1 "
	eval "test_lazy_script_$1=\$2"
}

# test_have_prereq A,B,!C: all of them (! negates).
test_have_prereq() {
	local p neg ok script list
	list=$(printf '%s' "$1" | tr , ' ')
	for p in $list
	do
		neg=
		case "$p" in !*) neg=t; p=${p#!} ;; esac
		case "$test_prereqs" in
		*" $p "*) ok=t ;;
		*)
			ok=
			case "$test_lazy_names" in
			*" $p "*)
				eval "script=\$test_lazy_script_$p"
				if (eval "$script") >&3 2>&4
				then
					test_set_prereq "$p"
					ok=t
				fi
				test_lazy_names=$(printf '%s' "$test_lazy_names" | sed "s/ $p / /")
				;;
			esac
			;;
		esac
		if test -n "$neg"; then test -z "$ok" || return 1
		else test -n "$ok" || return 1
		fi
	done
	return 0
}

# Run `$@` at the end of the current test, whatever its outcome.
test_when_finished() {
	test_cleanup="{ $*
		} && (exit \"\$eval_ret\"); eval_ret=\$?; $test_cleanup"
}

# Run `$@` when the script ends (after the last test, or when killed).
test_atexit() {
	test_atexit_cleanup="{ $*
		} ; $test_atexit_cleanup"
}

test_run_() {
	test_cleanup=:
	eval_ret=0
	if test -n "$trace"; then set -x; fi
	eval >&3 2>&4 "$1"
	eval_ret=$?
	if test -n "$trace"; then set +x; fi 2>/dev/null
	eval >&3 2>&4 "$test_cleanup"
	return $eval_ret
}

test_ok_() {
	test_success=$((test_success + 1))
	say "ok $test_count - $1"
}

test_failure_() {
	test_failure=$((test_failure + 1))
	test_failed_titles="$test_failed_titles
#	$test_count - $1"
	say "not ok $test_count - $1"
	shift
	printf '%s\n' "$*" | sed -e 's/^/#	/' >&5
	if test -n "$immediate"
	then
		test_done
	fi
}

test_skip_() {
	test_skipped=$((test_skipped + 1))
	say "ok $test_count # skip $1 (missing $2)"
	printf '%s: %s (missing %s)\n' "$TEST_NAME" "$1" "$2" \
		>>"$TEST_DIRECTORY/results/skipped.txt"
}

# test_expect_success [PREREQ] TITLE SCRIPT
test_expect_success() {
	local prereq=
	test "$#" = 3 && { prereq=$1; shift; }
	test "$#" = 2 || { echo "bug: test_expect_success needs 2 or 3 arguments" >&2; exit 1; }
	test_count=$((test_count + 1))
	if test -n "$prereq" && ! test_have_prereq "$prereq"
	then
		test_skip_ "$1" "$prereq"
		return
	fi
	say_verbose "expecting success of $test_count '$1':"
	if test_run_ "$2"
	then
		test_ok_ "$1"
	else
		test_failure_ "$@"
	fi
}

# test_expect_failure [PREREQ] TITLE SCRIPT: a known breakage.
test_expect_failure() {
	local prereq=
	test "$#" = 3 && { prereq=$1; shift; }
	test_count=$((test_count + 1))
	if test -n "$prereq" && ! test_have_prereq "$prereq"
	then
		test_skip_ "$1" "$prereq"
		return
	fi
	if test_run_ "$2"
	then
		test_fixed=$((test_fixed + 1))
		say "ok $test_count - $1 # TODO known breakage vanished"
	else
		test_broken=$((test_broken + 1))
		say "not ok $test_count - $1 # TODO known breakage"
	fi
}

say_verbose() { test -z "$verbose" || printf '%s\n' "$*" >&3; }

# Re-emit the TAP of a C unit test program as tests of this script.
test_unit_program() {
	local prog=$1 line title out rc
	out="$TRASH_DIRECTORY/unit-$(basename "$prog").tap"
	"$prog" >"$out" 2>&4
	rc=$?
	while IFS= read -r line
	do
		case "$line" in
		"ok "*)
			test_count=$((test_count + 1))
			title=${line#ok }; title=${title#* - }
			test_ok_ "$(basename "$prog"): $title" ;;
		"not ok "*)
			test_count=$((test_count + 1))
			title=${line#not ok }; title=${title#* - }
			test_failure_ "$(basename "$prog"): $title" "see $out" ;;
		"#"*) say "$line" ;;
		esac
	done <"$out"
	if test "$rc" != 0
	then
		test_count=$((test_count + 1))
		test_failure_ "$(basename "$prog") exited with status $rc" "see $out"
	fi
}

test_run_atexit_() {
	local cleanup=$test_atexit_cleanup
	test_atexit_cleanup=:
	eval >&3 2>&4 "$cleanup"
}

test_done() {
	trap - EXIT INT TERM
	test_run_atexit_
	{
		echo "total $test_count"
		echo "success $test_success"
		echo "failed $test_failure"
		echo "skipped $test_skipped"
		echo "broken $test_broken"
		echo "fixed $test_fixed"
	} >"$TEST_DIRECTORY/results/$TEST_NAME.counts"
	if test "$test_count" = 0 && test -n "${skip_all:-}"
	then
		say "1..0 # SKIP $skip_all"
		printf '%s: every test (%s)\n' "$TEST_NAME" "$skip_all" \
			>>"$TEST_DIRECTORY/results/skipped.txt"
		rm -rf "$TRASH_DIRECTORY" "$RUN_DIR"
		exit 0
	fi
	test "$test_broken" = 0 || say "# still have $test_broken known breakage(s)"
	test "$test_skipped" = 0 || say "# skipped $test_skipped test(s)"
	if test "$test_failure" = 0
	then
		say "# passed all $test_success test(s)"
		say "1..$test_count"
		cd "$TEST_DIRECTORY" || exit 1
		test -n "$debug" || rm -rf "$TRASH_DIRECTORY"
		rm -rf "$RUN_DIR"
		exit 0
	fi
	say "# failed $test_failure among $test_count test(s):$test_failed_titles"
	say "# trash directory kept: $TRASH_DIRECTORY"
	say "1..$test_count"
	rm -rf "$RUN_DIR"
	exit 1
}

test_interrupted_() {
	test_run_atexit_
	rm -rf "$RUN_DIR"
	say "# interrupted"
	exit 1
}
trap 'test_interrupted_' INT TERM
trap 'test_run_atexit_' EXIT

# ------------------------------------------------------------------
# assertions (use test_must_fail only for our own programs)

# The command's own stderr goes where the caller redirected it (fd 7
# inside); our diagnostics go to the verbose stream (fd 4).
test_must_fail() { test_must_fail_ "$@" 7>&2 2>&4; }
test_must_fail_() {
	"$@" 2>&7
	local rc=$?
	if test $rc = 0; then
		echo >&2 "test_must_fail: command succeeded: $*"
		return 1
	elif test $rc -gt 128 && test $rc -le 192; then
		echo >&2 "test_must_fail: died by signal $((rc - 128)): $*"
		return 1
	elif test $rc = 127; then
		echo >&2 "test_must_fail: command not found: $*"
		return 1
	fi
	return 0
}

test_expect_code() { test_expect_code_ "$@" 7>&2 2>&4; }
test_expect_code_() {
	local want=$1
	shift
	"$@" 2>&7
	local rc=$?
	test "$rc" = "$want" && return 0
	echo >&2 "test_expect_code: wanted $want, got $rc: $*"
	return 1
}

test_cmp() {
	diff -u "$1" "$2" >&4
}

test_line_count() {
	local n
	n=$(wc -l <"$3")
	if ! test "$n" "$1" "$2"
	then
		echo >&4 "test_line_count: $3 has $n lines, expected $1 $2"
		cat "$3" >&4
		return 1
	fi
}

test_grep() {
	local neg=
	test "$1" = "!" && { neg=t; shift; }
	if test -n "$neg"
	then
		grep "$@" >/dev/null || return 0
		echo >&4 "test_grep: unexpected match for '$*':"
		cat "$(eval echo \${$#})" >&4 2>/dev/null
		return 1
	fi
	grep "$@" >/dev/null && return 0
	echo >&4 "test_grep: no match for '$*' in:"
	cat "$(eval echo \${$#})" >&4 2>/dev/null
	return 1
}

test_path_is_file() { test -f "$1" || { echo >&4 "missing file $1"; return 1; }; }
test_path_is_missing() { test ! -e "$1" || { echo >&4 "unexpected $1"; return 1; }; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# test_wait_until SECONDS 'condition': poll every 20 ms until the
# condition holds (0) or the time is up (1).  A generous bound, never a
# benchmark: print what was measured with test_measured.
test_wait_until() {
	local limit=$1 end
	shift
	end=$(( $(now_ms) + limit * 1000 ))
	while ! eval "$*" 2>/dev/null
	do
		if test "$(now_ms)" -gt "$end"
		then
			echo >&4 "timed out after ${limit}s waiting for: $*"
			return 1
		fi
		sleep 0.02
	done
}

# Built programs and always-needed tools.
test -x "$BUILD/logcast" || {
	echo "Bail out! build/logcast is missing: run make first"
	exit 1
}
command -v curl >/dev/null && test_set_prereq CURL
test "$(id -u)" = 0 && test_set_prereq ROOT
test_lazy_prereq NODE 'node -e "process.exit(0)"'
test_lazy_prereq WSCLIENT 'node -e "require(\"$TEST_DIRECTORY/node_modules/ws\")"'
test_lazy_prereq STDWEBHOOKS 'node -e "require(\"$TEST_DIRECTORY/node_modules/standardwebhooks\")"'
test_lazy_prereq LIGHTTPD 'command -v lighttpd'
test_lazy_prereq WEBSOCKETD 'command -v websocketd'
