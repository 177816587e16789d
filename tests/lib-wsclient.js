#!/usr/bin/env node
// lib-wsclient.js - the WebSocket client the shell tests drive (Node's
// `ws` package from tests/node_modules).
//
//   node lib-wsclient.js [options] URL
//
//   --clients K         open K connections to URL at once (default 1)
//   --expect N          done once every client has received N frames
//   --timeout-ms T      give up after T ms (default 10000)
//   --hold              stay connected until the timeout, which is then a
//                       success ("still open"); --expect is ignored
//   --send TEXT         send TEXT as one text frame once open (repeatable;
//                       frames go out in the order given)
//   --send-file F       send the bytes of F as ONE text frame, as they are
//                       (newlines and invalid UTF-8 included)
//   --send-size N       send one text frame of exactly N bytes, a JSON
//                       string "xxx...x"
//   --send-delay-ms D   wait D ms after opening before sending
//   --ping-ms P         send a WebSocket ping every P ms (client traffic)
//   --close-after-ms T  close (handshake) T ms after every client opened
//   --terminate         end by destroying the TCP socket, no close frame
//   --out FILE          received frames, one per line (default stdout);
//                       with --clients > 1 each line is "<client>\t<frame>"
//   --events FILE       "<event> <epoch-ms> [detail]" lines: open (all
//                       clients open), frame (first frame of each client),
//                       closing, closed, done
//   --ready FILE        created (with "open") once every client is open
//
// Exit status and the last stderr line say what happened:
//   0  done: every client got --expect frames, or --hold reached the
//      timeout, or --close-after-ms closed them
//   2  timeout: some client got fewer frames than expected
//   3  a connection failed (an HTTP status instead of 101: "http <code>")
//   4  the server closed a connection first ("closed by server after
//      <ms since that client opened> ms")
//   1  usage
'use strict';

const fs = require('fs');
const path = require('path');
const WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));

function usage(msg) {
  process.stderr.write(`wsclient: ${msg}\nusage: node lib-wsclient.js [options] URL\n`);
  process.exit(1);
}

const opt = {
  clients: 1, expect: -1, timeout: 10000, hold: false, sends: [],
  sendDelay: 0, closeAfter: -1, ping: 0, terminate: false, out: null,
  events: null, ready: null, url: null,
};
const argv = process.argv.slice(2);
function num(i) {
  const v = argv[i];
  if (v === undefined || !/^[0-9]+$/.test(v)) usage(`${argv[i - 1]} needs a number`);
  return Number(v);
}
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  switch (a) {
    case '--clients': opt.clients = num(++i); break;
    case '--expect': opt.expect = num(++i); break;
    case '--timeout-ms': opt.timeout = num(++i); break;
    case '--hold': opt.hold = true; break;
    case '--send':
      if (argv[i + 1] === undefined) usage('--send needs a text');
      opt.sends.push(Buffer.from(argv[++i], 'utf8')); break;
    case '--send-file':
      if (argv[i + 1] === undefined) usage('--send-file needs a file');
      opt.sends.push(fs.readFileSync(argv[++i])); break;
    case '--send-size': {
      const n = num(++i);
      if (n < 2) usage('--send-size needs at least 2');
      const b = Buffer.alloc(n, 'x');
      b[0] = 0x22; b[n - 1] = 0x22;
      opt.sends.push(b);
      break;
    }
    case '--send-delay-ms': opt.sendDelay = num(++i); break;
    case '--close-after-ms': opt.closeAfter = num(++i); break;
    case '--ping-ms': opt.ping = num(++i); break;
    case '--terminate': opt.terminate = true; break;
    case '--out': opt.out = argv[++i]; break;
    case '--events': opt.events = argv[++i]; break;
    case '--ready': opt.ready = argv[++i]; break;
    default:
      if (a.startsWith('--') || opt.url) usage(`unknown argument ${a}`);
      opt.url = a;
  }
}
if (!opt.url) usage('no URL');

const outFd = opt.out ? fs.openSync(opt.out, 'w') : 1;
const evFd = opt.events ? fs.openSync(opt.events, 'w') : -1;
function event(name, detail) {
  if (evFd >= 0)
    fs.writeSync(evFd, `${name} ${Date.now()}${detail !== undefined ? ' ' + detail : ''}\n`);
}

const clients = [];
let opened = 0;
let finished = false;

function status(code, msg) {
  if (finished) return;
  finished = true;
  event('done', code);
  process.stderr.write(`wsclient: ${msg}\n`);
  for (const c of clients) {
    if (!c.ws) continue;
    if (opt.terminate) c.ws.terminate();
    else if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1000);
  }
  // let the close frames go out, but never wait long for the server
  setTimeout(() => process.exit(code), opt.terminate ? 0 : 200).unref();
  const pending = clients.filter((c) => c.ws && c.ws.readyState !== WebSocket.CLOSED);
  if (!pending.length) process.exit(code);
  let left = pending.length;
  for (const c of pending) c.ws.once('close', () => { if (--left === 0) process.exit(code); });
}

function summary() {
  const got = clients.map((c) => c.frames);
  const min = Math.min(...got), max = Math.max(...got);
  return opt.clients === 1 ? `${got[0]} frame(s)` : `${opt.clients} clients, ${min}..${max} frame(s) each`;
}

function checkDone() {
  if (opt.expect < 0 || opt.hold) return;
  if (clients.every((c) => c.frames >= opt.expect))
    status(0, `done: ${summary()}`);
}

function maybeAllOpen() {
  if (++opened < opt.clients) return;
  event('open');
  if (opt.ready) fs.writeFileSync(opt.ready, 'open\n');
  if (opt.closeAfter >= 0) {
    setTimeout(() => {
      event('closing');
      for (const c of clients) {
        if (opt.terminate) c.ws.terminate();
        else c.ws.close(1000);
      }
      let left = clients.length;
      for (const c of clients) {
        c.ws.once('close', () => {
          if (--left === 0) { event('closed'); status(0, `closed by us: ${summary()}`); }
        });
      }
    }, opt.closeAfter);
  }
}

function start(i) {
  const c = { i, frames: 0, ws: null, openedAt: 0 };
  clients.push(c);
  const ws = new WebSocket(opt.url, { perMessageDeflate: false, maxPayload: 64 << 20 });
  c.ws = ws;
  ws.on('open', () => {
    c.openedAt = Date.now();
    const send = () => { for (const b of opt.sends) ws.send(b, { binary: false }); };
    if (opt.sendDelay) setTimeout(send, opt.sendDelay); else send();
    if (opt.ping) {
      const t = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.ping(); else clearInterval(t);
      }, opt.ping);
      t.unref();
    }
    maybeAllOpen();
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${data.length} bytes>` : data.toString('utf8');
    if (finished) return;
    if (c.frames === 0) event('frame', i);
    c.frames++;
    fs.writeSync(outFd, opt.clients > 1 ? `${i}\t${text}\n` : `${text}\n`);
    checkDone();
  });
  ws.on('unexpected-response', (req, res) => {
    status(3, `client ${i}: http ${res.statusCode}`);
  });
  ws.on('error', (e) => {
    status(3, `client ${i}: error ${e.message}`);
  });
  ws.on('close', (code) => {
    if (finished || opt.closeAfter >= 0) return;
    const after = c.openedAt ? Date.now() - c.openedAt : -1;
    event('closed', `${i} ${code} ${after}`);
    status(4, `client ${i}: closed by server after ${after} ms (code ${code}) with ${c.frames} frame(s)`);
  });
}

for (let i = 0; i < opt.clients; i++) start(i);
setTimeout(() => {
  if (opt.hold) status(0, `still open after ${opt.timeout} ms: ${summary()}`);
  else status(2, `timeout after ${opt.timeout} ms: ${summary()}, expected ${opt.expect}`);
}, opt.timeout);
