// panel.js - one technique on screen: its connection state, the messages
// as they arrive, the live counters, and the "complete and in order" check.
//
// A Panel owns a transport (transports.js), a Meter and a SeqCheck
// (stats.js).  It is attached to a channel with the channel's last id as
// the base: from then on every id after the base must arrive exactly once
// and in order, whatever the transport goes through (stop/start, lost
// connections, a server restart).  Stop/start resumes from the last id the
// panel has shown.
//
// Rendering: message rows are inserted as they arrive (the display time
// of the latency is taken right after), at most MAX_ROWS stay in the DOM;
// counters and the check line are redrawn at most every RENDER_MS.  The
// panel's figures are also on its element as data-* attributes (state,
// last id, counts), and when each of the last ARRIVALS_KEEP ids was shown
// is kept for arrival(id): the browser tests read both.
//
// WebhookPanel watches the receipts the demo receiver publishes to channel
// webhook-receipts (over SSE) and keeps those of the current channel: the
// message ids the webhook delivered, and the publish->receipt latency.

import { el, fmtBytes, fmtMs } from './util.js';
import { Meter, SeqCheck } from './stats.js';

export const MAX_ROWS = 60;
const ARRIVALS_KEEP = 200;
const RENDER_MS = 60;

export const RECEIPTS_CHANNEL = 'webhook-receipts';

const STATE_LABEL = {
  connecting: 'connecting',
  open: 'connected',
  retrying: 'error — retrying',
  stopped: 'stopped',
  paused: 'paused',
  idle: 'waiting for the server',
};

// When the message was published, in this browser's clock: the page
// stamps what it sends with sent_at (ms); anything else has the server's
// receive time in the envelope.
export function publishedAt(env) {
  const d = env?.data;
  if (d && typeof d === 'object' && Number.isFinite(d.sent_at) && d.sent_at > 1e12) {
    return { ms: d.sent_at, source: 'sent_at' };
  }
  const t = Date.parse(env?.time);
  return Number.isFinite(t) ? { ms: t, source: 'envelope time' } : null;
}

// A short human text for a message's data.
export function summary(data) {
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    if (typeof data.text === 'string') return data.text;
    if (typeof data.content === 'string') return data.content;
  }
  let s;
  try {
    s = JSON.stringify(data);
  } catch {
    s = String(data);
  }
  return s === undefined ? '' : s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

export class Panel {
  // spec: { key, title, how(channel, panel) -> node (the requests it makes),
  //         control(panel) -> node (optional, after the status text),
  //         makeTransport(channel, hooks) }
  // app: { probeRange(channel) -> Promise<{first,last}|null>, changed() }
  constructor(spec, app) {
    this.spec = spec;
    this.app = app;
    this.meter = new Meter();
    this.seq = new SeqCheck(0);
    this.transport = null;
    this.channel = null;
    this.stateName = 'idle';
    this.detail = {};
    this.detailAt = Date.now();
    this.userStopped = false;
    this.pausedForTab = false;
    this.resumedAt = 0;            // messages published before: caught up
    this.burst = null;
    this.arrivals = new Map();     // id -> { at, latency }, the last ARRIVALS_KEEP
    this.renderTimer = null;
    this.build();
  }

  build() {
    const { key, title } = this.spec;
    const id = (s) => `${key}-${s}`;
    this.toggleBtn = el('button', { type: 'button', class: 'toggle', 'aria-describedby': id('state') }, 'Stop');
    this.toggleBtn.addEventListener('click', () => this.toggle());
    this.stateEl = el('span', { class: 'state', id: id('state') });
    this.detailEl = el('span', { class: 'detail' });
    this.howEl = el('p', { class: 'how' });
    this.checkEl = el('p', { class: 'check' });
    this.extraEl = el('div', { class: 'extra' });
    const cells = {};
    const counters = (pairs) => el('dl', { class: 'counters' }, pairs.map(([k, label]) => {
      cells[k] = el('dd', { 'data-k': k }, '0');
      return el('div', {}, el('dt', {}, label), cells[k]);
    }));
    this.cells = cells;
    this.list = el('ol', { class: 'msgs', 'aria-label': `Messages received by ${title}, newest first` });
    this.root = el('section', {
      class: 'panel', id: `panel-${key}`, 'data-technique': key, 'aria-labelledby': id('title'),
    },
      el('h3', { id: id('title') }, title),
      el('div', { class: 'controls' }, this.stateEl, this.toggleBtn),
      this.statusEl = el('p', { class: 'status-line' }, this.detailEl),
      this.checkEl,
      counters([['received', 'messages'], ['requests', 'requests'], ['bytes', 'bytes']]),
      el('p', { class: 'lat-title', id: id('lat') }, 'latency, publish → display'),
      counters([['last', 'last'], ['median', 'median'], ['worst', 'worst']]),
      this.extraEl,
      this.list,
      this.howEl);
    this.root.querySelectorAll('.counters')[1].setAttribute('aria-labelledby', id('lat'));
    this.setState('idle', {});
  }

  // Follow `channel` from id `base` on (its last id when the page began);
  // the transport starts after id `startAt` of the channel it reads.
  attach(channel, base, startAt = base) {
    this.transport?.stop();
    this.channel = channel;
    this.meter.reset();
    this.seq.reset(base);
    this.burst = null;
    this.resumedAt = 0;
    this.arrivals.clear();
    this.list.replaceChildren();
    this.howEl.replaceChildren(this.spec.how(channel, this));
    if (this.spec.control) this.statusEl.replaceChildren(this.detailEl, ' ', this.spec.control(this));
    this.transport = this.spec.makeTransport(channel, this.hooks());
    if (!this.userStopped) this.transport.start(startAt);
    else this.setState('stopped', { text: 'press Start to subscribe' });
    this.render();
  }

  hooks() {
    return {
      messages: (list) => this.receive(list),
      state: (name, detail) => this.setState(name, detail),
      traffic: ({ requests, bytes }) => {
        this.meter.requests += requests;
        this.meter.bytes += bytes;
        this.scheduleRender();
      },
      range: ({ first }) => {
        if (this.seq.retained(first)) this.scheduleRender();
      },
      serverError: (text) => this.app.serverError?.(this, text),
    };
  }

  toggle() {
    if (!this.transport) return;
    this.pausedForTab = false;
    if (this.transport.running) {
      this.userStopped = true;
      this.transport.stop();
    } else {
      this.userStopped = false;
      this.resumeTransport();
    }
    this.render();
  }

  // Start the transport again after the last id this panel showed.
  resumeTransport() {
    this.resumedAt = Date.now();
    this.transport.start(this.seq.lastId);
  }

  // Another tab of the page needs the connections (tabs.js).
  pause() {
    if (!this.transport?.running) return;
    this.transport.stop();
    this.pausedForTab = true;
    this.setState('paused', { text: 'this tab is hidden and another tab of the page is open' });
  }

  resume() {
    if (!this.pausedForTab || !this.transport) return;
    this.pausedForTab = false;
    this.resumeTransport();
  }

  get running() { return !!this.transport?.running; }

  setState(name, detail) {
    const was = this.stateName;
    this.stateName = name;
    this.detail = detail || {};
    this.detailAt = Date.now();
    this.root.dataset.state = name;
    if (was !== name) this.app.changed?.(this, was, name);
    this.render();
  }

  // Envelopes from the transport, oldest first.
  receive(list) {
    const fresh = [];
    for (const env of list) {
      const r = this.seq.add(env.id);
      if (r === 'old' || r === 'dup') continue;
      if (r === 'gap') this.checkGap();
      fresh.push(env);
    }
    if (!fresh.length) {
      this.scheduleRender();
      return;
    }
    this.addRows(fresh);
    const now = Date.now();
    for (const env of fresh) {
      this.meter.received++;
      const p = publishedAt(env);
      // Published while the panel was stopped: caught up, not a latency.
      // (never below 0: another machine's clock may run ahead of ours)
      const latency = p && p.ms >= this.resumedAt ? Math.max(0, now - p.ms) : null;
      if (latency !== null) this.meter.latency(latency);
      this.arrivals.set(env.id, { at: now, latency });
      this.noteBurst(env.data);
    }
    while (this.arrivals.size > ARRIVALS_KEEP) this.arrivals.delete(this.arrivals.keys().next().value);
    this.markRows(fresh);
    this.scheduleRender();
  }

  addRows(fresh) {
    const frag = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) frag.append(this.row(fresh[i]));
    this.list.prepend(frag);
    while (this.list.childElementCount > MAX_ROWS) this.list.lastElementChild.remove();
  }

  row(env) {
    return el('li', { 'data-id': env.id },
      el('span', { class: 'id' }, `#${env.id}`), ' ',
      el('span', { class: 'text' }, summary(env.data)), ' ',
      el('span', { class: 'lat' }));
  }

  // Each new row's latency, or "caught up" when it was published while
  // the panel was stopped.
  markRows(fresh) {
    for (const env of fresh) {
      const li = this.list.querySelector(`li[data-id="${env.id}"]`);
      const p = publishedAt(env);
      if (!li || !p) continue;
      const lat = li.querySelector('.lat');
      const a = this.arrivals.get(env.id);
      if (a?.latency === null || a?.latency === undefined) {
        lat.textContent = 'caught up';
        lat.title = 'published while this panel was stopped; not counted in the latency';
      } else {
        lat.textContent = fmtMs(a.latency);
        lat.title = `publish → display, from ${p.source === 'sent_at' ? 'the sent_at stamp' : 'the envelope time'}`;
      }
    }
  }

  // Bursts published by the publish box carry { burst, seq, of }.
  noteBurst(data) {
    if (!data || typeof data !== 'object' || !Number.isFinite(data.burst)) return;
    if (!this.burst || this.burst.id !== data.burst) {
      this.burst = { id: data.burst, of: data.of, got: 0, lastSeq: 0, inOrder: true };
    }
    const b = this.burst;
    b.got++;
    if (!(data.seq > b.lastSeq)) b.inOrder = false;
    b.lastSeq = data.seq;
  }

  // Ids were skipped: ask the server whether retention dropped them.
  async checkGap() {
    const range = await this.app.probeRange?.(this.channel);
    if (range && this.seq.retained(range.first)) this.scheduleRender();
  }

  scheduleRender() {
    if (this.renderTimer) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = null;
      this.render();
    }, RENDER_MS);
  }

  render() {
    const m = this.meter;
    const s = this.seq;
    const running = this.running;
    this.toggleBtn.textContent = running ? 'Stop' : 'Start';
    this.toggleBtn.setAttribute('aria-label', `${running ? 'Stop' : 'Start'} ${this.spec.title}`);
    this.stateEl.textContent = STATE_LABEL[this.stateName] || this.stateName;
    this.stateEl.className = `state state-${this.stateName}`;
    this.detailEl.textContent = this.detailText();
    this.cells.received.textContent = String(m.received);
    this.cells.requests.textContent = String(m.requests);
    this.cells.bytes.textContent = fmtBytes(m.bytes);
    this.cells.last.textContent = fmtMs(m.lastLatency);
    this.cells.median.textContent = fmtMs(m.median);
    this.cells.worst.textContent = fmtMs(m.worst);
    this.renderCheck();
    this.renderExtra?.();
    Object.assign(this.root.dataset, {
      lastId: s.lastId, count: s.count, missing: s.missing, dups: s.dups, late: s.late,
      complete: String(s.ok), received: m.received, requests: m.requests,
    });
  }

  detailText() {
    const d = this.detail;
    if (this.stateName === 'retrying') {
      const left = Math.max(0, (d.retryIn || 0) - (Date.now() - this.detailAt));
      const when = left > 0 ? `retrying in ${Math.ceil(left / 1000)} s` : 'retrying now';
      return `${d.error || 'error'} — ${when}${d.text ? ` (${d.text})` : ''}; will resume after id ${this.seq.lastId}`;
    }
    return d.text || '';
  }

  renderCheck() {
    const s = this.seq;
    const badges = [];
    let line;
    if (!s.count && !s.missing && !s.dups) {
      line = el('span', { class: 'wait' }, `waiting for messages after id ${s.base}`);
    } else if (s.ok) {
      line = el('span', { class: 'ok' }, `✓ complete and in order: ids ${s.base + 1}–${s.lastId} (${s.count})`);
    } else {
      line = el('span', { class: 'bad' }, `ids ${s.base + 1}–${s.lastId}: ${s.count} received`);
    }
    if (s.missing) {
      const retention = s.gaps.length && s.gaps.every((g) => g.why === 'retention');
      const g = s.gaps[s.gaps.length - 1];
      const where = g ? (g.from === g.to ? `id ${g.from}` : `ids ${g.from}–${g.to}`) : '';
      badges.push(el('span', {
        class: `badge ${retention ? 'badge-retention' : 'badge-gap'}`,
        title: retention
          ? 'The server no longer keeps these messages (retention): X-First-Id is past them.'
          : 'These ids never arrived here.',
      }, `gap: ${s.missing} missing${where ? ` (${where})` : ''}${retention ? ' — dropped by retention' : ''}`));
    }
    if (s.dups) badges.push(el('span', { class: 'badge badge-gap' }, `${s.dups} duplicate${s.dups > 1 ? 's' : ''}`));
    if (s.late) badges.push(el('span', { class: 'badge badge-gap' }, `${s.late} out of order`));
    const b = this.burst;
    if (b) {
      const done = b.got >= b.of;
      badges.push(el('span', { class: `badge ${done && b.inOrder ? 'badge-ok' : b.inOrder ? 'badge-wait' : 'badge-gap'}` },
        `burst: ${b.got}/${b.of}${b.inOrder ? (done ? ' in order' : '') : ' out of order'}`));
    }
    this.checkEl.replaceChildren(line, ...badges.flatMap((x) => [' ', x]));
  }

  // When id was displayed here (ms since the epoch) and its latency.
  arrival(id) { return this.arrivals.get(id) || null; }

  snapshot() {
    return {
      state: this.stateName, running: this.running, channel: this.channel,
      ...this.meter.snapshot(), seq: this.seq.snapshot(),
      burst: this.burst && { ...this.burst },
      rows: this.list.childElementCount,
    };
  }
}

// The webhook panel: receipts of channel webhook-receipts, kept when they
// are about the current channel.
export class WebhookPanel extends Panel {
  constructor(spec, app) {
    super(spec, app);
    this.receipt = new Meter();
    this.endpoints = null;
  }

  // base: the current channel's last id; receiptsBase: the receipts
  // channel's last id (only receipts after it are read).
  attach(channel, base, receiptsBase = 0) {
    this.receipt.reset();
    this.endpoints = null;
    super.attach(channel, base, receiptsBase);
  }

  hooks() {
    const h = super.hooks();
    h.messages = (list) => this.receipts(list);
    h.range = () => {};
    return h;
  }

  // From the last receipt seen (the receipts channel has its own ids).
  resumeTransport() {
    this.resumedAt = Date.now();
    this.transport.start();
  }

  receipts(list) {
    const envs = [];
    for (const rec of list) {
      const r = rec.data;
      if (!r || typeof r !== 'object' || r.channel !== this.channel || !Number.isInteger(r.id)) continue;
      const env = r.envelope && typeof r.envelope === 'object'
        ? r.envelope
        : { id: r.id, channel: r.channel, time: null, data: null };
      envs.push({ ...env, receipt: r });
    }
    if (envs.length) this.receive(envs);
  }

  receive(list) {
    for (const env of list) {
      const p = publishedAt(env);
      const at = Date.parse(env.receipt?.received_at);
      // The receipt's time is the receiver's: valid even when this panel
      // was stopped meanwhile.
      if (p && Number.isFinite(at) && env.id > this.seq.lastId) this.receipt.latency(Math.max(0, at - p.ms));
    }
    super.receive(list);
  }

  row(env) {
    const li = super.row(env);
    const r = env.receipt;
    if (r) {
      li.querySelector('.text').title = `webhook-id ${r.webhook_id}, signature ${r.verified ? 'verified' : 'NOT verified'}`;
      if (!r.verified) li.classList.add('unverified');
    }
    return li;
  }

  setEndpoints(list) {
    this.endpoints = list;
    this.render();
  }

  renderExtra() {
    const r = this.receipt;
    if (!r) return;       // called from the base constructor, before ours ran
    const parts = [
      el('p', {}, 'publish → receipt: last ', el('strong', {}, fmtMs(r.lastLatency)),
        ', median ', el('strong', {}, fmtMs(r.median)), ', worst ', el('strong', {}, fmtMs(r.worst))),
    ];
    const eps = this.endpoints;
    if (eps === null) {
      parts.push(el('p', { class: 'muted' }, 'looking up the webhook endpoints…'));
    } else if (eps.error) {
      parts.push(el('p', { class: 'muted' }, `webhook endpoints: ${eps.error}`));
    } else if (!eps.length) {
      parts.push(el('p', { class: 'warn' },
        `No webhook endpoint is registered for channel “${this.channel}”, so nothing is delivered. `,
        '`make run` registers the demo receiver for chat and orders.'));
    } else {
      const where = (u) => {
        try {
          const url = new URL(u);
          return url.host === location.host ? url.pathname : u;
        } catch {
          return u;
        }
      };
      parts.push(el('p', { class: 'muted' },
        'delivered to ', el('code', {}, eps.length === 1 ? where(eps[0].url) : `${eps.length} endpoints`),
        ' (deliveries go on while this panel is stopped; it catches up)'));
    }
    this.extraEl.replaceChildren(...parts);
  }

  snapshot() {
    return { ...super.snapshot(), receipt: this.receipt.snapshot().latency, endpoints: this.endpoints };
  }
}
