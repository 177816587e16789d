-- publish.lua - wrk script for bench/shortpoll.sh: every request is one
-- publish of the same small JSON message (to logcast's
-- POST /api/channels/<ch>/messages or Nchan's POST /pub/<ch>).
wrk.method = "POST"
wrk.body = '{"bench":true}'
wrk.headers["Content-Type"] = "application/json"
