#!/bin/bash
test_description='WebSocket fan-out through the API: 300 sockets within the default inotify limit, cost per socket, prompt exit'
. "$(dirname "$0")/test-lib.sh"

WSFAN_HANDED=1
. "$TEST_DIRECTORY/lib-wsfan.sh"
