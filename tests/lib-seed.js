// lib-seed.js - run the article's example clients (seed-clients.js),
// unchanged, against a real logcast stack, and report what they logged.
//
//   node lib-seed.js BASE_URL SECONDS [SEND_AT_SECONDS]
//
// The clients hard-code http://localhost:8080 and ws://localhost:8080; the
// only thing changed is underneath them: fetch and WebSocket are wrapped
// to reach BASE_URL instead (the test stack runs on its own port).  Node
// provides fetch; WebSocket comes from the `ws` package where Node has
// none.  Every console.log / console.error call is printed as one JSON
// line: {"t":ms,"level":"log","args":[...]}.  After SEND_AT_SECONDS the
// clients' own sendMessage() is called.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [base, seconds, sendAt] = process.argv.slice(2);
if (!base || !seconds) {
  console.error('usage: node lib-seed.js BASE_URL SECONDS [SEND_AT_SECONDS]');
  process.exit(2);
}
const target = new URL(base);
const start = Date.now();
const out = (level, args) => process.stdout.write(JSON.stringify({
  t: Date.now() - start, level,
  args: args.map((a) => (a instanceof Error ? String(a) : a)),
}) + '\n');

function retarget(url) {
  const u = new URL(url);
  if (u.hostname === 'localhost' && u.port === '8080') {
    u.hostname = target.hostname;
    u.port = target.port;
  }
  return u.toString();
}

const WS = globalThis.WebSocket || require(path.join(__dirname, 'node_modules', 'ws'));
class RetargetedWebSocket extends WS {
  constructor(url, ...rest) { super(retarget(url), ...rest); }
}

const sandbox = {
  fetch: (url, opts) => fetch(retarget(String(url)), opts),
  WebSocket: RetargetedWebSocket,
  console: { log: (...a) => out('log', a), error: (...a) => out('error', a) },
  setTimeout, clearTimeout, JSON, URL,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(path.join(__dirname, 'seed-clients.js'), 'utf8'),
                sandbox, { filename: 'seed-clients.js' });

if (sendAt)
  setTimeout(() => vm.runInContext('sendMessage()', sandbox), Number(sendAt) * 1000);
setTimeout(() => process.exit(0), Number(seconds) * 1000);
