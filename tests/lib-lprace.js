#!/usr/bin/env node
// lib-lprace.js - long-poll clients that hang up just after a message for
// them was published, while the responder is still busy answering a crowd
// on another channel.  Each round:
//
//   1. BUSY long polls on channel "busy" and LEAVERS on channel "race",
//      each on its own connection, until /api/health holds them all;
//   2. one publish to "busy" (the responder now answers BUSY requests),
//      and at once one publish to "race" (with `logcast append`);
//   3. as soon as the "race" publish is done (its wake-up is out), every
//      "race" client resets its connection.
//
// The responder then finds a wake-up for "race" and the hang-ups of its
// clients in the same batch of events, wake-up first: it must answer or
// release each request once.  Afterwards every "busy" client must have its
// answer and the held count must return to 0.
//
//   node lib-lprace.js HOST:PORT [--busy N] [--leavers M] [--rounds R]
//
// Exit 0 when every round went so, 1 with the reason on stderr.
'use strict';
const net = require('net');
const { execFile } = require('child_process');

const args = process.argv.slice(2);
const opt = { busy: 400, leavers: 100, rounds: 5 };
let target = null;
for (let i = 0; i < args.length; i++) {
	const m = /^--(busy|leavers|rounds)$/.exec(args[i]);
	if (m && i + 1 < args.length && /^[0-9]+$/.test(args[i + 1]))
		opt[m[1]] = Number(args[++i]);
	else if (!target && /^[^:]+:[0-9]+$/.test(args[i]))
		target = args[i];
	else {
		console.error(`lib-lprace: bad argument '${args[i]}'`);
		process.exit(2);
	}
}
if (!target) {
	console.error('usage: lib-lprace.js HOST:PORT [--busy N] [--leavers M] [--rounds R]');
	process.exit(2);
}
const [host, port] = [target.split(':')[0], Number(target.split(':')[1])];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MAX_RESPONSE = 64 * 1024;     // every answer here is a few hundred bytes

// One HTTP/1.1 GET on a fresh connection; resolves with the raw response
// text when the server closes, or null when we reset it.
function get(path) {
	const sock = net.connect(port, host);
	const done = new Promise((resolve, reject) => {
		let got = '';
		sock.setEncoding('utf8');
		sock.on('data', (d) => {
			got += d;
			if (got.length > MAX_RESPONSE) {
				sock.destroy();
				reject(new Error(`GET ${path}: response over ${MAX_RESPONSE} bytes`));
			}
		});
		sock.on('close', () => resolve(sock.reset ? null : got));
		sock.on('error', (e) => (sock.reset ? resolve(null) : reject(e)));
	});
	sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
	return { sock, done };
}

// Publish with the command-line tool (logcast in PATH, LOGCAST_DATA_DIR
// set), not through lighttpd, which is busy relaying the crowd's answers
// and would hold the publish back until the responder is idle again.
function append(ch, data) {
	return new Promise((resolve, reject) => {
		execFile('logcast', ['append', ch, data], (e, out, err) =>
			(e ? reject(new Error(`logcast append ${ch}: ${err || e.message}`)) : resolve()));
	});
}

async function held() {
	const text = await get('/api/health').done;
	return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).held_long_polls;
}

async function last(ch) {
	const text = await get(`/api/channels/${ch}/messages?since=0&limit=1`).done;
	const m = /\r\nX-Last-Id: ([0-9]+)/i.exec(text);
	return m ? Number(m[1]) : 0;
}

async function waitHeld(n, ms) {
	const t0 = Date.now();
	let h;
	while ((h = await held()) !== n) {
		if (Date.now() - t0 > ms)
			throw new Error(`held_long_polls stayed ${h}, not ${n}, for ${ms} ms`);
		await sleep(20);
	}
}

async function round(r) {
	const since = { busy: await last('busy'), race: await last('race') };
	const busy = [], leavers = [];
	for (let i = 0; i < opt.busy; i++)
		busy.push(get(`/api/channels/busy/poll?since=${since.busy}&timeout=60`));
	for (let i = 0; i < opt.leavers; i++)
		leavers.push(get(`/api/channels/race/poll?since=${since.race}&timeout=60`));
	await waitHeld(opt.busy + opt.leavers, 30000);

	const pa = append('busy', `{"round":${r}}`);
	await append('race', `{"round":${r}}`);
	for (const l of leavers) {
		l.sock.reset = true;
		l.sock.resetAndDestroy();
	}
	await pa;
	const answers = await Promise.all(busy.map((b) => b.done));
	const bad = answers.filter((t) => !/^HTTP\/1\.1 200 /.test(t) ||
				   !t.includes(`"data":{"round":${r}}`));
	if (bad.length)
		throw new Error(`round ${r}: ${bad.length} of ${opt.busy} busy clients ` +
				`got no message, e.g. ${JSON.stringify((bad[0] || '').slice(0, 200))}`);
	await Promise.all(leavers.map((l) => l.done));
	await waitHeld(0, 10000);
}

(async () => {
	for (let r = 1; r <= opt.rounds; r++)
		await round(r);
	console.error(`lib-lprace: ${opt.rounds} rounds, ${opt.busy} answered and ` +
		      `${opt.leavers} leaving in each`);
})().catch((e) => {
	console.error(`lib-lprace: ${e.message}`);
	process.exit(1);
});
