#!/bin/bash
test_description='the test harness itself: passing, failing, cleanup, skips'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'a passing test passes' '
	true
'

test_expect_success 'test_when_finished runs after the test' '
	test_when_finished "rm -f cleanup-marker" &&
	touch cleanup-marker
'

test_expect_success 'the cleanup really ran' '
	test_path_is_missing cleanup-marker
'

test_expect_success 'a failing test is reported as not ok and fails the script' '
	mkdir -p sub &&
	cat >sub/t9999-fail.sh <<-\INNER &&
	test_description="inner"
	. "$TEST_DIRECTORY/test-lib.sh"
	test_expect_success "this one fails" "false"
	test_expect_success "this one passes" "true"
	test_done
	INNER
	cp "$TEST_DIRECTORY/test-lib.sh" sub/ &&
	(cd sub && TEST_DIRECTORY=$PWD bash t9999-fail.sh >out 2>err; echo $? >rc) &&
	test "$(cat sub/rc)" = 1 &&
	grep "^not ok 1 - this one fails" sub/out &&
	grep "^ok 2 - this one passes" sub/out &&
	grep "^1\.\.2" sub/out
'

test_expect_success 'test_must_fail refuses a crash' '
	! test_must_fail sh -c "kill -SEGV \$\$"
'

test_set_prereq HAVE_IT
test_expect_success HAVE_IT 'a test with a met prerequisite runs' '
	true
'

test_expect_success 'a missing prerequisite is a visible skip' '
	mkdir -p sub2 &&
	cat >sub2/t9998-skip.sh <<-\INNER &&
	test_description="inner"
	. "$TEST_DIRECTORY/test-lib.sh"
	test_expect_success NOT_THERE "needs something" "true"
	test_done
	INNER
	cp "$TEST_DIRECTORY/test-lib.sh" sub2/ &&
	(cd sub2 && TEST_DIRECTORY=$PWD bash t9998-skip.sh >out 2>err) &&
	grep "^ok 1 # skip needs something (missing NOT_THERE)" sub2/out
'

test_expect_success 'test_atexit runs when the script ends' '
	mkdir -p sub3 &&
	cat >sub3/t9997-atexit.sh <<-\INNER &&
	test_description="inner"
	. "$TEST_DIRECTORY/test-lib.sh"
	test_atexit "touch \"$TEST_DIRECTORY/atexit-ran\""
	test_expect_success "fails" "false"
	test_done
	INNER
	cp "$TEST_DIRECTORY/test-lib.sh" sub3/ &&
	(cd sub3 && TEST_DIRECTORY=$PWD bash t9997-atexit.sh >out 2>err; true) &&
	test_path_is_file sub3/atexit-ran
'

test_done
