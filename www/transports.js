// transports.js - the four ways this page subscribes to a channel: short
// polling, long polling, Server-Sent Events and a WebSocket (the webhook
// panel watches its receipts channel with the SSE one).
//
// Every transport has the same small interface, so a panel does not care
// which one it drives:
//
//   const t = new LongPoll(channel, hooks, options)
//   t.start(since)     deliver every message with id > since, then live ones
//   t.stop()           close everything; start() again resumes from the last
//                      id delivered (no gap, no duplicate)
//
// and reports through `hooks` (all optional):
//
//   messages(envelopes)      parsed envelopes, oldest first
//   state(name, detail)      'connecting' | 'open' | 'retrying' | 'stopped';
//                            detail: { text, error, retryIn (ms) }
//   traffic({ requests, bytes })   increments: HTTP requests made (a
//                            WebSocket handshake and each EventSource
//                            (re)connection count as one), bytes received
//   range({ first, last })   X-First-Id / X-Last-Id of an HTTP read
//   serverError(text)        an {"error":..} frame on the WebSocket
//
// Recovery: a failed request or a lost connection is retried with
// exponential backoff (0.5 s doubling to a 10 s cap, +-20 % jitter),
// never faster than the server's Retry-After; the backoff resets on the
// first success.  An EventSource that loses its stream is reconnected by
// the browser itself (the server asks for `retry: 2000`) with
// Last-Event-ID; only when the browser gives up (an HTTP error status)
// does this code take over, with ?since=<last id seen>.  URLs are
// relative to the page, so any host and port work.

import { Backoff, headBytes, sleep, utf8Length } from './util.js';

const POLL_LIMIT = 1000;          // the API's maximum
const LONG_POLL_TIMEOUT = 30;     // seconds: the API's default

export class HttpError extends Error {
  constructor(status, text, retryAfter) {
    super(`HTTP ${status}${text ? `: ${text}` : ''}`);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// Why a request failed, in words a visitor understands.
export function describeError(e) {
  if (e instanceof HttpError) return e.message;
  if (e instanceof SyntaxError) return `bad response: ${e.message}`;
  return 'server unreachable';
}

export function channelPath(channel) {
  return `api/channels/${encodeURIComponent(channel)}`;
}

function errorText(body) {
  try {
    const v = JSON.parse(body);
    if (v && typeof v.error === 'string') return v.error;
  } catch { /* not JSON: say nothing more */ }
  return '';
}

// Fetch `url` and read the whole body: { res, body, bytes }.  Throws
// HttpError for a status other than 200 and 204.
export async function fetchText(url, init = {}) {
  const res = await fetch(url, { cache: 'no-store', ...init });
  const body = await res.text();
  const bytes = headBytes(res) + utf8Length(body);
  if (res.status !== 200 && res.status !== 204 && res.status !== 201) {
    const ra = Number(res.headers.get('Retry-After'));
    const err = new HttpError(res.status, errorText(body), Number.isFinite(ra) ? ra : 0);
    err.bytes = bytes;
    throw err;
  }
  return { res, body, bytes };
}

// The retained range of a channel from X-First-Id / X-Last-Id.
export function rangeOf(res) {
  const first = Number(res.headers.get('X-First-Id'));
  const last = Number(res.headers.get('X-Last-Id'));
  return Number.isFinite(first) && Number.isFinite(last) ? { first, last } : null;
}

function parseEnvelopes(body) {
  const list = JSON.parse(body);
  if (!Array.isArray(list)) throw new SyntaxError('expected a JSON array');
  return list.filter((e) => e && Number.isInteger(e.id));
}

class Transport {
  constructor(channel, hooks = {}) {
    this.channel = channel;
    this.hooks = hooks;
    this.since = 0;
    this.running = false;
    this.failure = null;          // why the last attempt failed, until one works
    this.backoff = new Backoff();
  }

  emit(name, ...args) {
    try {
      this.hooks[name]?.(...args);
    } catch (e) {
      // A bug in a hook must not kill the transport's loop; report it once.
      console.warn(`logcast demo: ${name} hook failed:`, e);
    }
  }

  state(name, detail = {}) {
    if (name === 'retrying') this.failure = detail.error || 'error';
    if (name === 'open' || name === 'stopped') this.failure = null;
    this.emit('state', name, detail);
  }

  // A (re)connection begins: "connecting" the first time, and while the
  // server is failing, still "retrying" (no flicker between the two).
  connecting(text) {
    if (this.failure) this.state('retrying', { error: this.failure, retryIn: 0 });
    else this.state('connecting', { text });
  }

  deliver(envelopes) {
    if (!envelopes.length) return;
    for (const e of envelopes) if (e.id > this.since) this.since = e.id;
    this.emit('messages', envelopes);
  }

  // How long to wait after failure `e`.
  retryDelay(e) {
    const ra = e instanceof HttpError && e.retryAfter ? e.retryAfter * 1000 : 0;
    return Math.max(this.backoff.next(), ra);
  }

  start(since) {
    if (this.running) return;
    if (Number.isInteger(since)) this.since = since;
    this.running = true;
    this.backoff.reset();
    this.run();
  }

  stop() {
    if (!this.running) return;
    this.running = false;
    this.halt();
    this.state('stopped', { text: `stopped after id ${this.since}` });
  }
}

// GET .../messages?since=N at a fixed interval; a full page (1000) is
// followed at once by the next.
export class ShortPoll extends Transport {
  constructor(channel, hooks, { interval = 5000 } = {}) {
    super(channel, hooks);
    this.interval = interval;
    this.wake = null;
  }

  setInterval(ms) {
    this.interval = ms;
    this.wake?.abort();       // re-plan the current wait
  }

  async run() {
    const abort = (this.abort = new AbortController());
    const { signal } = abort;
    this.connecting('first poll…');
    while (!signal.aborted) {
      let delay = this.interval;
      try {
        this.emit('traffic', { requests: 1, bytes: 0 });
        const url = `${channelPath(this.channel)}/messages?since=${this.since}&limit=${POLL_LIMIT}`;
        const { res, body, bytes } = await fetchText(url, { signal });
        this.emit('traffic', { requests: 0, bytes });
        const list = parseEnvelopes(body);
        const range = rangeOf(res);
        if (range) this.emit('range', range);
        this.deliver(list);
        this.backoff.reset();
        if (list.length >= POLL_LIMIT) delay = 0;
        this.state('open', {
          text: `${list.length} new at ${new Date().toLocaleTimeString()};`,
        });
      } catch (e) {
        if (signal.aborted) break;
        if (e.bytes) this.emit('traffic', { requests: 0, bytes: e.bytes });
        delay = Math.max(this.interval, this.retryDelay(e));
        this.state('retrying', { error: describeError(e), retryIn: delay });
      }
      await this.waitFor(delay, signal);
    }
  }

  // Sleep `delay` ms from now; an interval change re-plans the rest.
  async waitFor(delay, signal) {
    const started = Date.now();
    for (;;) {
      this.wake = new AbortController();
      const both = AbortSignal.any([signal, this.wake.signal]);
      await sleep(Math.max(0, delay - (Date.now() - started)), both);
      if (signal.aborted || !this.wake.signal.aborted) return;
      delay = Math.min(delay, this.interval);    // the interval changed
    }
  }

  halt() { this.abort?.abort(); }
}

// GET .../poll?since=N&timeout=30: held by the server until a message
// exists (200) or the timeout passes (204); asked again at once.
export class LongPoll extends Transport {
  async run() {
    const abort = (this.abort = new AbortController());
    const { signal } = abort;
    this.connecting('first request…');
    while (!signal.aborted) {
      try {
        this.emit('traffic', { requests: 1, bytes: 0 });
        const url = `${channelPath(this.channel)}/poll?since=${this.since}&timeout=${LONG_POLL_TIMEOUT}`;
        const pending = fetchText(url, { signal });
        // The request is on its way: say so unless it fails at once.
        const early = await Promise.race([pending.then(() => null, () => null), sleep(150, signal).then(() => 'held')]);
        if (early === 'held' && !signal.aborted) {
          this.state('open', { text: `request held (up to ${LONG_POLL_TIMEOUT} s) until a message arrives` });
        }
        const { res, body, bytes } = await pending;
        this.emit('traffic', { requests: 0, bytes });
        const range = rangeOf(res);
        if (range) this.emit('range', range);
        if (res.status === 200) this.deliver(parseEnvelopes(body));
        this.backoff.reset();
        this.state('open', {
          text: res.status === 204 ? 'timed out empty (204), asking again' : 'answered, asking again',
        });
      } catch (e) {
        if (signal.aborted) break;
        if (e.bytes) this.emit('traffic', { requests: 0, bytes: e.bytes });
        const delay = this.retryDelay(e);
        this.state('retrying', { error: describeError(e), retryIn: delay });
        await sleep(delay, signal);
      }
    }
  }

  halt() { this.abort?.abort(); }
}

// EventSource on .../events?since=N.
export class Sse extends Transport {
  run() {
    const es = (this.es = new EventSource(`${channelPath(this.channel)}/events?since=${this.since}`));
    this.emit('traffic', { requests: 1, bytes: 0 });
    this.connecting('opening the stream…');
    es.onopen = () => {
      this.backoff.reset();
      this.state('open', { text: 'stream open; the server writes each message' });
    };
    es.onmessage = (ev) => {
      this.emit('traffic', {
        requests: 0,
        bytes: utf8Length(ev.data) + `id: ${ev.lastEventId}\ndata: \n\n`.length,
      });
      let env;
      try {
        env = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (env && Number.isInteger(env.id)) this.deliver([env]);
    };
    es.onerror = () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself, with Last-Event-ID.
        this.emit('traffic', { requests: 1, bytes: 0 });
        this.state('retrying', {
          error: 'stream lost',
          text: `the browser reconnects every 2 s with Last-Event-ID ${this.since}`,
          retryIn: 2000,
        });
        return;
      }
      // CLOSED: an HTTP error the browser will not retry; we do.
      es.close();
      const delay = this.backoff.next();
      this.state('retrying', { error: 'stream refused', retryIn: delay });
      this.timer = setTimeout(() => { if (this.running) this.run(); }, delay);
    };
  }

  halt() {
    clearTimeout(this.timer);
    if (this.es) {
      this.es.onopen = this.es.onmessage = this.es.onerror = null;
      this.es.close();
      this.es = null;
    }
  }
}

// WebSocket on /ws/{ch}?since=N; each frame is an envelope or an error.
// options.token: a function giving the publish token for ?token= (only
// needed to publish on a server with LOGCAST_PUBLISH_TOKEN).
export class Ws extends Transport {
  constructor(channel, hooks, { token } = {}) {
    super(channel, hooks);
    this.token = token;
  }

  run() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const base = new URL('.', location.href).pathname;
    const token = this.token?.();
    const url = `${scheme}//${location.host}${base}ws/${encodeURIComponent(this.channel)}?since=${this.since}`
      + (token ? `&token=${encodeURIComponent(token)}` : '');
    const ws = (this.ws = new WebSocket(url));
    this.emit('traffic', { requests: 1, bytes: 0 });
    this.connecting('opening the socket…');
    ws.onopen = () => {
      this.backoff.reset();
      this.state('open', { text: 'socket open, both directions' });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const n = utf8Length(ev.data);
      this.emit('traffic', { requests: 0, bytes: n + (n < 126 ? 2 : n < 65536 ? 4 : 10) });
      let v;
      try {
        v = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (v && typeof v.error === 'string') this.emit('serverError', v.error);
      else if (v && Number.isInteger(v.id)) this.deliver([v]);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      const delay = this.backoff.next();
      this.state('retrying', {
        error: ev.code === 1006 ? 'connection lost' : `closed by the server (code ${ev.code})`,
        retryIn: delay,
      });
      this.timer = setTimeout(() => { if (this.running) this.run(); }, delay);
    };
  }

  get socketOpen() { return this.ws?.readyState === WebSocket.OPEN; }

  // Publish: one single-line JSON text frame.  False when not connected.
  send(text) {
    if (!this.socketOpen) return false;
    this.ws.send(text);
    return true;
  }

  halt() {
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onmessage = ws.onclose = ws.onerror = null;
      // Closing a socket still in its handshake makes the browser log an
      // error; let it open first, then close it cleanly.
      if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000);
      else {
        ws.onopen = null;
        ws.close(1000);
      }
    }
  }
}
