#!/bin/bash
# run-tests.sh - what `make check` runs: every tests/t*.sh through prove,
# then one summary line, "N passed, N failed", from the scripts' counts.
#
#   tests/run-tests.sh                 all scripts
#   tests/run-tests.sh t1010 t2000     scripts whose names start with these
#   LOGCAST_TEST_JOBS=2                run scripts in parallel (prove -j)
#   LOGCAST_TEST_VERBOSE=1             show every command's output
set -u
cd "$(dirname "$0")" || exit 1
rm -rf results
mkdir -p results

scripts=()
if [ $# -gt 0 ]; then
	for pat in "$@"; do
		for f in ${pat%.sh}*.sh; do [ -f "$f" ] && scripts+=("$f"); done
	done
else
	scripts=(t[0-9][0-9][0-9][0-9]-*.sh)
fi
if [ ${#scripts[@]} -eq 0 ]; then
	echo "no test scripts match: $*" >&2
	exit 1
fi

# Node.js packages the tests drive (pinned in package-lock.json).  When npm
# or the registry is unreachable the tests that need them skip, visibly.
if command -v npm >/dev/null 2>&1 &&
   { [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; }; then
	echo "installing the tests' Node.js packages (npm ci)" >&2
	npm ci --no-audit --no-fund >results/npm.log 2>&1 ||
		echo "npm ci failed (see tests/results/npm.log): tests needing it will skip" >&2
	touch node_modules 2>/dev/null
fi

jobs=${LOGCAST_TEST_JOBS:-1}
prove --exec bash -j "$jobs" --timer ${LOGCAST_TEST_VERBOSE:+-v} "${scripts[@]}"
prove_rc=$?

passed=0 failed=0 skipped=0 broken=0 missing=()
for f in "${scripts[@]}"; do
	c="results/${f%.sh}.counts"
	if [ ! -f "$c" ]; then
		missing+=("${f%.sh}")
		failed=$((failed + 1))
		continue
	fi
	while read -r k v; do
		case $k in
		success) passed=$((passed + v)) ;;
		failed) failed=$((failed + v)) ;;
		skipped) skipped=$((skipped + v)) ;;
		broken) broken=$((broken + v)) ;;
		esac
	done <"$c"
done
if [ -s results/measured.txt ]; then
	echo
	echo "Measured (generous bounds were asserted; these are the figures):"
	sed 's/^/  /' results/measured.txt
fi
echo
[ ${#missing[@]} -eq 0 ] || echo "scripts that died before reporting: ${missing[*]}"
if [ -s results/skipped.txt ]; then
	echo "Skipped (the prerequisite each one lacked):"
	sed 's/^/  /' results/skipped.txt
	echo
fi
[ "$skipped" = 0 ] || echo "$skipped skipped"
[ "$broken" = 0 ] || echo "$broken known breakages"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$prove_rc" = 0 ]
