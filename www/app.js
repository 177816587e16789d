// app.js - the logcast demo page: five panels follow one channel at the
// same time, by short polling, long polling, Server-Sent Events, a
// WebSocket, and webhooks (the receipts of the demo receiver).
//
// Start-up: read the channel (?channel=, default "chat"), ask the server
// for its last id (HEAD .../messages, X-Last-Id), and attach every panel
// from there, so all five expect exactly the same ids.  Until the server
// answers, a banner says so and the page retries with backoff.
//
// The page also wires the publish box (publish.js), the live comparison
// table (compare.js, refreshed every second), the benchmark section
// (bench.js), and one banner that sums up the panels' connection states
// (down / reconnecting / recovered).  Screen readers hear the publish
// results and connection changes through role=status regions, never each
// arriving message.
//
// For the browser tests, window.logcastDemo.snapshot() returns every
// panel's figures as plain data.

import { Backoff, CHANNEL_RE, el, fmtMs, sleep } from './util.js';
import { LongPoll, ShortPoll, Sse, Ws, channelPath, fetchText, rangeOf } from './transports.js';
import { Panel, RECEIPTS_CHANNEL, WebhookPanel } from './panel.js';
import { CompareTable } from './compare.js';
import { Publisher } from './publish.js';
import { showBench } from './bench.js';
import { watchTabs } from './tabs.js';

const DEFAULT_CHANNEL = 'chat';
const DEFAULT_INTERVAL_S = 5;

const $ = (sel) => document.querySelector(sel);
const code = (text) => el('code', {}, text);

const app = {
  channel: null,
  generation: 0,           // bumps on every channel switch
  panels: {},
  down: false,

  // What the panels ask of the page.
  async probeRange(channel) {
    try {
      const { res } = await fetchText(`${channelPath(channel)}/messages?limit=1`, { method: 'HEAD' });
      return rangeOf(res);
    } catch {
      return null;
    }
  },
  changed() { scheduleBanner(); },
  serverError(panel, text) {
    say(`The WebSocket server answered: ${text}`, 'error');
    if (/token/i.test(text)) needToken();
  },
};

// --------------------------------------------------------- publish token

// Only when the server wants one (LOGCAST_PUBLISH_TOKEN): kept for this
// tab in sessionStorage, never in the URL of the page.
function publishToken() {
  return $('#token')?.value.trim() || '';
}

function needToken() {
  const row = $('#token-row');
  if (row.hidden) {
    row.hidden = false;
    $('#token').focus();
  }
}

function setupToken() {
  const input = $('#token');
  const saved = sessionStorage.getItem('logcast-publish-token');
  if (saved) {
    input.value = saved;
    $('#token-row').hidden = false;
  }
  input.addEventListener('change', () => {
    const t = publishToken();
    if (t) sessionStorage.setItem('logcast-publish-token', t);
    else sessionStorage.removeItem('logcast-publish-token');
    // The socket carries the token from its start: reconnect it (it
    // resumes after the last id it showed).
    const ws = app.panels.ws;
    if (ws?.running) {
      ws.transport.stop();
      ws.resumeTransport();
    }
  });
}

// ---------------------------------------------------------------- panels

function intervalControl(panel) {
  const input = el('input', {
    type: 'number', id: 'short-interval', min: '0.2', max: '600', step: '0.1',
    value: String(panel.intervalS ?? DEFAULT_INTERVAL_S), inputmode: 'decimal',
    'aria-label': 'Short polling interval in seconds',
  });
  input.addEventListener('change', () => {
    const s = Number(input.value);
    if (!(s >= 0.2 && s <= 600)) {
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    input.removeAttribute('aria-invalid');
    panel.intervalS = s;
    panel.transport?.setInterval(s * 1000);
  });
  return el('label', { for: 'short-interval', class: 'interval' }, 'every ', input, ' s');
}

const SPECS = [
  {
    key: 'short', title: 'Short polling',
    how: (ch) => el('span', {}, code(`GET /api/channels/${ch}/messages?since=N`), ', answered at once'),
    control: (p) => intervalControl(p),
    makeTransport: (ch, hooks, p) => new ShortPoll(ch, hooks, { interval: (p.intervalS ?? DEFAULT_INTERVAL_S) * 1000 }),
  },
  {
    key: 'long', title: 'Long polling',
    how: (ch) => el('span', {}, code(`GET /api/channels/${ch}/poll?since=N&timeout=30`), ', asked again after each answer'),
    makeTransport: (ch, hooks) => new LongPoll(ch, hooks),
  },
  {
    key: 'sse', title: 'Server-Sent Events',
    how: (ch) => el('span', {}, code(`EventSource /api/channels/${ch}/events?since=N`), ', resumed by Last-Event-ID'),
    makeTransport: (ch, hooks) => new Sse(ch, hooks),
  },
  {
    key: 'ws', title: 'WebSocket',
    how: (ch) => el('span', {}, code(`/ws/${ch}?since=N`), ', one frame per message, both ways'),
    makeTransport: (ch, hooks) => new Ws(ch, hooks, { token: publishToken }),
  },
  {
    key: 'webhook', title: 'Webhooks',
    how: () => el('span', {}, 'the server POSTs each message to ', code('/hooks/receiver'),
      '; the page reads its receipts by SSE'),
    makeTransport: (ch, hooks) => new Sse(RECEIPTS_CHANNEL, hooks),
  },
];

function createPanels() {
  const grid = $('#panels-grid');
  for (const spec of SPECS) {
    const s = { ...spec };
    const panel = spec.key === 'webhook' ? new WebhookPanel(s, app) : new Panel(s, app);
    s.makeTransport = (ch, hooks) => spec.makeTransport(ch, hooks, panel);
    app.panels[spec.key] = panel;
    grid.append(panel.root);
  }
}

// --------------------------------------------------------------- channel

// Wait for the server, then attach every panel to `channel`.
async function follow(channel) {
  const gen = ++app.generation;
  app.channel = channel;
  $('#channel').value = channel;
  for (const n of document.querySelectorAll('.ch-name')) n.textContent = channel;
  document.title = `logcast — #${channel}`;
  curlHint(channel);
  const backoff = new Backoff();
  for (const p of Object.values(app.panels)) p.transport?.stop();
  for (;;) {
    try {
      const [{ res: a }, { res: b }] = await Promise.all([
        fetchText(`${channelPath(channel)}/messages?limit=1`, { method: 'HEAD' }),
        fetchText(`${channelPath(RECEIPTS_CHANNEL)}/messages?limit=1`, { method: 'HEAD' }),
      ]);
      if (gen !== app.generation) return;
      const base = rangeOf(a)?.last ?? 0;
      const receiptsBase = rangeOf(b)?.last ?? 0;
      for (const p of Object.values(app.panels)) {
        if (p instanceof WebhookPanel) p.attach(channel, base, receiptsBase);
        else p.attach(channel, base);
      }
      setBannerState(null);
      break;
    } catch (e) {
      if (gen !== app.generation) return;
      const delay = backoff.next();
      setBannerState('unreachable', `Cannot reach the logcast server yet; retrying in ${fmtMs(delay)}.`);
      await sleep(delay);
      if (gen !== app.generation) return;
    }
  }
  loadEndpoints(channel, gen);
  loadChannels();
}

async function loadEndpoints(channel, gen) {
  const panel = app.panels.webhook;
  try {
    const { body } = await fetchText('api/webhooks');
    if (gen !== app.generation) return;
    const list = JSON.parse(body);
    panel.setEndpoints(Array.isArray(list)
      ? list.filter((w) => Array.isArray(w.channels) && w.channels.includes(channel))
      : { error: 'unexpected answer' });
  } catch (e) {
    if (gen !== app.generation) return;
    panel.setEndpoints({
      error: e.status === 401 ? 'the list needs the admin token (LOGCAST_ADMIN_TOKEN)' : 'cannot list them right now',
    });
  }
}

async function loadChannels() {
  try {
    const { body } = await fetchText('api/channels');
    const list = JSON.parse(body);
    if (!Array.isArray(list)) return;
    $('#channels').replaceChildren(...list
      .filter((c) => c.channel !== RECEIPTS_CHANNEL)
      .map((c) => el('option', { value: c.channel }, `${c.last_id} messages`)));
  } catch { /* the list is a convenience */ }
}

function setupChannelForm() {
  const form = $('#channel-form');
  const input = $('#channel');
  const err = $('#channel-error');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const ch = input.value.trim();
    if (!CHANNEL_RE.test(ch)) {
      input.setAttribute('aria-invalid', 'true');
      err.textContent = 'Use 1 to 64 letters, digits, “_”, “.” or “-”, starting with a letter or digit.';
      return;
    }
    input.removeAttribute('aria-invalid');
    err.textContent = '';
    if (ch === app.channel) return;
    const url = new URL(location.href);
    url.searchParams.set('channel', ch);
    history.replaceState(null, '', url);
    follow(ch);
    say(`Now following channel “${ch}” in all five panels.`, 'ok');
  });
  input.addEventListener('focus', loadChannels);
}

// --------------------------------------------------------------- publish

let sayTimer = null;
// A line under the publish box (role=status: read out politely).
function say(text, kind = 'ok', focus = null, quiet = false) {
  const out = $('#publish-status');
  out.textContent = text;
  out.className = `status status-${kind}`;
  const input = $('#publish-text');
  if (focus === 'input') input.setAttribute('aria-invalid', 'true');
  else if (kind !== 'busy') input.removeAttribute('aria-invalid');
  clearTimeout(sayTimer);
  if (!quiet && kind === 'ok') sayTimer = setTimeout(() => { out.classList.add('fade'); }, 8000);
}

function setupPublish() {
  const publisher = new Publisher({
    channel: () => app.channel,
    ws: () => app.panels.ws?.transport,
    say,
    otherTabs: () => app.tabs?.others() ?? 0,
    token: publishToken,
    needToken,
  });
  const form = $('#publish-form');
  const input = $('#publish-text');
  const opts = () => ({
    mode: form.elements.mode.value,
    via: form.elements.via.value,
    stamp: $('#stamp').checked,
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!app.channel) return;
    if (await publisher.publish(input.value, opts())) input.value = '';
    if (document.activeElement !== $('#token')) input.focus();
  });
  const burstBtn = $('#burst');
  burstBtn.addEventListener('click', async () => {
    const n = Math.max(1, Math.min(500, Math.round(Number($('#burst-n').value)) || 50));
    if (!app.channel) return;
    burstBtn.disabled = true;
    burstBtn.setAttribute('aria-busy', 'true');
    await publisher.burst(n, { via: opts().via });
    burstBtn.disabled = false;
    burstBtn.removeAttribute('aria-busy');
  });
  form.addEventListener('change', (ev) => {
    if (ev.target.name === 'mode') {
      const json = form.elements.mode.value === 'json';
      input.placeholder = json ? '{"text":"hi","n":1}' : 'Type a message, press Enter';
      $('#stamp-row').hidden = !json;
    }
  });
}

function curlHint(channel) {
  $('#curl-hint').textContent =
    `curl -d '{"text":"from curl"}' ${new URL(`${channelPath(channel)}/messages`, location.href)}`;
}

// ---------------------------------------------------------------- banner

let bannerTimer = null;
function scheduleBanner() {
  if (bannerTimer) return;
  bannerTimer = setTimeout(() => {
    bannerTimer = null;
    updateBanner();
  }, 100);
}

function updateBanner() {
  const live = Object.values(app.panels).filter((p) => p.running);
  const failing = live.filter((p) => p.stateName === 'retrying');
  if (live.length && failing.length === live.length) {
    app.down = true;
    setBannerState('down', 'The server is unreachable. Every panel retries with backoff (at most every 10 s) and will resume from the last id it showed: nothing published meanwhile is lost.');
  } else if (failing.length) {
    setBannerState('partial', `${failing.map((p) => p.spec.title).join(', ')}: reconnecting…`);
  } else if (app.down) {
    app.down = false;
    setBannerState('recovered', 'Reconnected. The panels resumed from their last ids; check the “complete and in order” lines.');
    setTimeout(() => { if (!app.down && $('#banner').dataset.kind === 'recovered') setBannerState(null); }, 6000);
  } else if ($('#banner').dataset.kind === 'partial') {
    setBannerState(null);
  }
}

function setBannerState(kind, text) {
  const b = $('#banner');
  if (!kind) {
    b.hidden = true;
    b.dataset.kind = '';
    b.textContent = '';
    return;
  }
  if (b.dataset.kind === kind && b.textContent === text) return;
  b.hidden = false;
  b.dataset.kind = kind;
  b.textContent = text;
}

// ----------------------------------------------------- live figures, bench

function snapshot() {
  const panels = {};
  for (const [k, p] of Object.entries(app.panels)) panels[k] = p.snapshot();
  return { channel: app.channel, panels };
}

function tick(table) {
  const snaps = {};
  for (const [k, p] of Object.entries(app.panels)) {
    snaps[k] = p.snapshot();
    if (p.stateName === 'retrying') p.render();      // the countdown
  }
  table.update(snaps);
}

async function serverNow() {
  const out = $('#server-now');
  if (document.hidden) return;
  try {
    const { body } = await fetchText('api/health');
    const h = JSON.parse(body);
    const n = (v, one, many) => `${v ?? '?'} ${v === 1 ? one : many}`;
    out.textContent = `Right now the server holds ${n(h.held_long_polls, 'long poll', 'long polls')}, `
      + `${n(h.sse_streams, 'SSE stream', 'SSE streams')} and ${n(h.websocket_connections, 'WebSocket', 'WebSockets')} `
      + '(every client, not only this page); short polls and webhooks hold nothing between messages.';
  } catch {
    out.textContent = 'The server’s live counts are unavailable while it is unreachable.';
  }
}

// ------------------------------------------------------------------ main

function main() {
  setupToken();
  createPanels();
  setupChannelForm();
  setupPublish();
  const table = new CompareTable($('#compare-table'));
  const params = new URLSearchParams(location.search);
  const wanted = params.get('channel');
  follow(wanted && CHANNEL_RE.test(wanted) ? wanted : DEFAULT_CHANNEL);
  setInterval(() => tick(table), 1000);
  serverNow();
  setInterval(serverNow, 5000);
  showBench($('#bench-body'));
  app.tabs = watchTabs({
    pause: () => Object.values(app.panels).forEach((p) => p.pause()),
    resume: () => Object.values(app.panels).forEach((p) => p.resume()),
  });
  window.logcastDemo = {
    snapshot,
    arrival: (key, id) => app.panels[key]?.arrival(id) ?? null,
    panels: app.panels,
  };
}

main();
