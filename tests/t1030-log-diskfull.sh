#!/bin/bash
test_description='a full disk: appends fail clearly, nothing partial is visible, appends resume when space returns'
. "$(dirname "$0")/test-lib.sh"

# A small tmpfs made by the test itself (root only; skipped, visibly,
# where mounting is not allowed).
test_lazy_prereq TMPFS '
	mkdir -p "$TRASH_DIRECTORY/probe" &&
	mount -t tmpfs -o size=64k tmpfs "$TRASH_DIRECTORY/probe" &&
	umount "$TRASH_DIRECTORY/probe"
'

small="$TRASH_DIRECTORY/small"

test_expect_success TMPFS 'mount a 1 MiB file system for the log' '
	mkdir -p "$small" &&
	mount -t tmpfs -o size=1m tmpfs "$small" &&
	test_atexit "umount \"$small\"" &&
	export LOGCAST_DATA_DIR="$small/var" &&
	head -c 262144 /dev/zero >"$small/ballast" &&
	logcast append full "\"first\"" >/dev/null
'

test_expect_success TMPFS 'fill the disk until an append fails with a clear error' '
	pad=$(printf "%0900d" 0) &&
	n=0 &&
	while logcast append full "\"$pad\"" >/dev/null 2>err
	do
		n=$((n + 1))
		test $n -lt 5000 || return 1
	done &&
	test_measured "$n appends of ~1 KB fit before the disk was full" &&
	grep "disk full" err
'

test_expect_success TMPFS 'nothing partial is visible and the log checks clean' '
	logcast read full >all &&
	test_line_count = $((n + 1)) all &&
	tail -n 1 all | grep "\"id\":$((n + 1)),.*}$" &&
	logcast check full >out &&
	grep "full: ok, $((n + 1)) messages" out
'

free_kb() { df -k "$small" | awk "NR == 2 { print \$4 }"; }

test_expect_success TMPFS 'it keeps failing cleanly while the disk stays full, leaking nothing' '
	before=$(free_kb) &&
	test_must_fail logcast append full "\"$pad\"" 2>err &&
	grep "disk full" err &&
	test_must_fail logcast append full "\"$pad\"" 2>err &&
	test "$(free_kb)" = "$before" &&
	logcast check full >out &&
	grep "full: ok, $((n + 1)) messages" out
'

test_expect_success TMPFS 'appends succeed again once space is freed' '
	rm "$small/ballast" &&
	logcast append full "\"after\"" >out &&
	grep "\"id\":$((n + 2)),.*\"data\":\"after\"}" out &&
	logcast append full "\"$pad\"" >/dev/null &&
	logcast check full >out &&
	grep "full: ok, $((n + 3)) messages" out
'

test_done
