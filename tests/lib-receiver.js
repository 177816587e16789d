// lib-receiver.js - a real HTTP webhook receiver for the webhook tests.
//
//   node lib-receiver.js --dir DIR --port P [--port P2 ...] [--secret whsec_...]
//
// Listens on 127.0.0.1 at every given port.  Each request is recorded as one
// line of JSON in DIR/<name>.log and DIR/all.log, where <name> is the URL
// path with its slashes turned into dashes ("/hook/3" -> "hook-3", "/" ->
// "root"):
//
//   {"t":<ms>,"port":P,"path":"/hook/3","method":"POST","id":<webhook-id>,
//    "ts":<webhook-timestamp>,"sig":..,"type":<content-type>,"body":"...",
//    "verified":true|false,"verify_error":..,"mode":"200"}
//
// "verified" is the official `standardwebhooks` package's verdict
// (Webhook(secret).verify(body, headers)); without --secret it is null.
//
// How it answers is read, per request, from DIR/<name>.mode, else DIR/mode,
// else "200":
//
//   200, 204, 410, 500, ...  that status (3xx with Location: /elsewhere)
//   hang                     never answer
//   slow:MS                  200 after MS milliseconds
//   retry-after:S[:STATUS]   STATUS (default 503) with Retry-After: S
//   close                    drop the connection without an answer
//
// DIR/ready.<port> appears once a port listens.  SIGTERM/SIGINT: exit.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const args = process.argv.slice(2);
let dir = null, secret = null;
const ports = [];
for (let i = 0; i < args.length; i++) {
	const a = args[i];
	if (a === '--dir') dir = args[++i];
	else if (a === '--port') ports.push(Number(args[++i]));
	else if (a === '--secret') secret = args[++i];
	else { console.error('lib-receiver: unknown argument ' + a); process.exit(2); }
}
if (!dir || !ports.length) {
	console.error('usage: node lib-receiver.js --dir DIR --port P [--port P]... [--secret S]');
	process.exit(2);
}

let wh = null;
if (secret) {
	const { Webhook } = require(path.join(__dirname, 'node_modules', 'standardwebhooks'));
	wh = new Webhook(secret);
}

function modeFor(name) {
	for (const f of [name + '.mode', 'mode']) {
		try {
			return fs.readFileSync(path.join(dir, f), 'utf8').trim() || '200';
		} catch (e) { /* next */ }
	}
	return '200';
}

function handle(port, req, res) {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const body = Buffer.concat(chunks).toString('utf8');
		const url = new URL(req.url, 'http://x');
		const name = url.pathname.replace(/^\/+|\/+$/g, '').replace(/\//g, '-') || 'root';
		const mode = modeFor(name);
		let verified = null, verifyError = null;
		if (wh) {
			try {
				wh.verify(body, req.headers);
				verified = true;
			} catch (e) {
				verified = false;
				verifyError = String(e && e.message || e);
			}
		}
		const rec = JSON.stringify({
			t: Date.now(), port, path: url.pathname, method: req.method,
			id: req.headers['webhook-id'] || null,
			ts: req.headers['webhook-timestamp'] || null,
			sig: req.headers['webhook-signature'] || null,
			type: req.headers['content-type'] || null,
			body, verified, verify_error: verifyError, mode,
		}) + '\n';
		fs.appendFileSync(path.join(dir, name + '.log'), rec);
		fs.appendFileSync(path.join(dir, 'all.log'), rec);

		let m;
		if (mode === 'hang') return;
		if (mode === 'close') { req.socket.destroy(); return; }
		if ((m = /^slow:(\d+)$/.exec(mode))) {
			setTimeout(() => { res.writeHead(200); res.end('ok'); }, Number(m[1]));
			return;
		}
		if ((m = /^retry-after:(\d+)(?::(\d{3}))?$/.exec(mode))) {
			res.writeHead(m[2] ? Number(m[2]) : 503, { 'Retry-After': m[1] });
			res.end('later');
			return;
		}
		const status = /^\d{3}$/.test(mode) ? Number(mode) : 200;
		const headers = {};
		if (status >= 300 && status < 400) headers.Location = '/elsewhere';
		res.writeHead(status, headers);
		res.end(status === 204 ? undefined : 'status ' + status);
	});
}

const servers = ports.map((port) => {
	const s = http.createServer((req, res) => handle(port, req, res));
	s.keepAliveTimeout = 60000;
	s.listen(port, '127.0.0.1', () => {
		fs.writeFileSync(path.join(dir, 'ready.' + port), String(process.pid));
	});
	s.on('error', (e) => { console.error('lib-receiver: port ' + port + ': ' + e.message); process.exit(1); });
	return s;
});

function quit() {
	for (const s of servers) s.close();
	process.exit(0);
}
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
