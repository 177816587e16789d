#!/bin/bash
test_description='C unit tests of the shared library (json, crc32c, parsing, strbuf, the log, the WebSocket handoff)'
. "$(dirname "$0")/test-lib.sh"

for prog in "$BUILD"/tests/unit-*
do
	TMPDIR=$TRASH_DIRECTORY test_unit_program "$prog"
done

test_done
