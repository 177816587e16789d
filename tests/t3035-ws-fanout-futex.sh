#!/bin/bash
test_description='WebSocket children waiting on the log themselves (no fan-out): 300 sockets within the default inotify limit, cost per socket, prompt exit'
. "$(dirname "$0")/test-lib.sh"

export LOGCAST_WS_FANOUT=0
WSFAN_HANDED=0
. "$TEST_DIRECTORY/lib-wsfan.sh"
