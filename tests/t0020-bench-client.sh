#!/bin/bash
test_description='the benchmark client (bench/fanout.c): its HTTP, SSE and WebSocket parsers, fed every split of canned streams'
. "$(dirname "$0")/test-lib.sh"

# Built the way make bench builds it (bench_build_fanout in bench/lib.sh:
# -Wall -Wextra -Werror), so that what the benchmarks measure with is
# checked by make check too.
test_expect_success 'fanout builds without a warning (-Werror)' '
	fanout=$(BENCH_BIN=$PWD bash -c ". \"\$1/bench/lib.sh\" && bench_build_fanout" - "$TOP") &&
	test "$fanout" = "$PWD/fanout" &&
	test -x fanout
'

test_expect_success 'fanout --self-test passes' '
	./fanout --self-test >out 2>&1 &&
	test_measured "$(tail -n1 out)" &&
	test_grep "^self-test: all [0-9]* checks passed" out
'

test_expect_success 'fanout refuses a bad option with a usage error (status 2)' '
	test_expect_code 2 ./fanout --mode carrier-pigeon 2>err &&
	test_grep "is not longpoll, sse or ws" err
'

test_done
