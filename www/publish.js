// publish.js - the publish box: one message, or a burst, to the current
// channel over HTTP (POST /api/channels/{ch}/messages) or as frames on the
// WebSocket panel's own socket.
//
// What is sent: in text mode {"text": ..., "sent_at": <ms>}; in JSON mode
// the JSON as typed (validated here, and sent byte for byte, since the log
// keeps data byte for byte), with "sent_at" spliced into an object when
// "stamp" is on.  sent_at is how every panel measures publish->display
// latency in this browser's own clock.  A burst is N messages sent one
// after the other, {"text":"burst i/N","burst":<start ms>,"seq":i,"of":N},
// so every panel can show that they all arrived, in order.
//
// When the server sets LOGCAST_PUBLISH_TOKEN, the first 401 reveals a
// token field; HTTP publishes then carry "Authorization: Bearer", and the
// WebSocket panel reconnects with ?token= (tokens are never stored beyond
// this tab's sessionStorage).

import { channelPath, describeError, fetchText } from './transports.js';

// Add "sent_at" to a JSON text holding an object (keeping the rest of the
// text as it is); anything else is returned unchanged.
export function stampJson(text, now) {
  const value = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value) || 'sent_at' in value) return text;
  const t = text.trim();
  const inner = t.slice(1).trimStart();
  return `{"sent_at":${now}${inner.startsWith('}') ? '' : ','}${inner}`;
}

export class Publisher {
  // ctx: { channel() -> name, ws() -> the Ws transport or null,
  //        say(text, kind), otherTabs() -> other tabs of the page open,
  //        token() -> the publish token or '', needToken() (a 401 came) }
  constructor(ctx) {
    this.ctx = ctx;
    this.count = 0;
    this.busy = false;
  }

  // The body to send for `input` in `mode` ('text' | 'json').  Throws a
  // SyntaxError for invalid JSON.
  body(input, mode, stamp = true) {
    const now = Date.now();
    if (mode === 'json') {
      const t = input.trim();
      if (!t) throw new SyntaxError('type a JSON value, e.g. {"text":"hi"}');
      JSON.parse(t);
      if (/[\r\n]/.test(t)) throw new SyntaxError('must be on one line');
      return stamp ? stampJson(t, now) : t;
    }
    const text = input.trim() || `hello ${this.count + 1}`;
    return JSON.stringify({ text, sent_at: now });
  }

  async postHttp(body) {
    const t0 = performance.now();
    // A POST that waits this long is most likely queued behind held
    // connections of other windows of this page: say so.
    const slow = setTimeout(() => {
      if (this.ctx.otherTabs?.() > 0) {
        this.ctx.say('Waiting for a free connection: browsers open at most six per server, '
          + 'and other windows of this page hold some of them (long poll, event streams).', 'busy', null, true);
      }
    }, 1500);
    try {
      const headers = { 'Content-Type': 'application/json' };
      const token = this.ctx.token?.();
      if (token) headers.Authorization = `Bearer ${token}`;
      const { body: text } = await fetchText(`${channelPath(this.ctx.channel())}/messages`, {
        method: 'POST', headers, body,
      });
      return { env: JSON.parse(text), ms: performance.now() - t0 };
    } catch (e) {
      if (e.status === 401) this.ctx.needToken?.();
      throw e;
    } finally {
      clearTimeout(slow);
    }
  }

  sendWs(body) {
    const ws = this.ctx.ws();
    if (!ws || !ws.send(body)) {
      throw new Error('the WebSocket panel is not connected (start it, or publish over HTTP)');
    }
  }

  // Publish one message; returns true when it went out.
  async publish(input, { mode = 'text', via = 'http', stamp = true } = {}) {
    let body;
    try {
      body = this.body(input, mode, stamp);
    } catch (e) {
      this.ctx.say(`Not published: not valid JSON (${e.message}).`, 'error', 'input');
      return false;
    }
    try {
      if (via === 'ws') {
        this.sendWs(body);
        this.count++;
        this.ctx.say(`Sent as one WebSocket frame to “${this.ctx.channel()}”; it comes back through every subscription.`, 'ok');
      } else {
        const { env, ms } = await this.postHttp(body);
        this.count++;
        this.ctx.say(`Published #${env.id} to “${env.channel}” over HTTP (201 in ${Math.round(ms)} ms).`, 'ok');
      }
      return true;
    } catch (e) {
      const why = e instanceof Error && !e.status && via === 'ws' ? e.message : describeError(e);
      this.ctx.say(`Not published: ${why}${e.status === 401 ? ' — this server wants a publish token: enter it beside the options' : ''}.`, 'error');
      return false;
    }
  }

  // N messages one after the other.
  async burst(n, { via = 'http' } = {}) {
    if (this.busy) return false;
    this.busy = true;
    const id = Date.now();
    const t0 = performance.now();
    let first = null;
    let last = null;
    let sent = 0;
    try {
      for (let i = 1; i <= n; i++) {
        const body = JSON.stringify({ text: `burst ${i}/${n}`, burst: id, seq: i, of: n, sent_at: Date.now() });
        if (via === 'ws') this.sendWs(body);
        else {
          const { env } = await this.postHttp(body);
          first ??= env.id;
          last = env.id;
        }
        sent++;
        if (via === 'http' && i % 10 === 0 && i < n) this.ctx.say(`Burst: ${i}/${n} published…`, 'busy', null, true);
      }
      this.count += sent;
      const ms = Math.round(performance.now() - t0);
      this.ctx.say(via === 'ws'
        ? `Burst of ${n} sent as ${n} WebSocket frames in ${ms} ms.`
        : `Burst of ${n} published over HTTP: ids ${first}–${last} in ${ms} ms. Every panel should show ${n}/${n} in order.`, 'ok');
      return true;
    } catch (e) {
      const why = via === 'ws' && !(e.status) ? e.message : describeError(e);
      this.ctx.say(`Burst stopped after ${sent} of ${n}: ${why}.`, 'error');
      return false;
    } finally {
      this.busy = false;
    }
  }
}
