// compare.js - the comparison table: the usual verdict on each technique
// (mechanism, latency, server load, complexity, use), next to what this
// page measures live from the panels' counters.
//
// The qualitative columns are fixed text: the classic four-way comparison
// (short polling, long polling, webhooks, WebSockets) as it is usually
// told, plus Server-Sent Events, which such comparisons tend to leave
// out.  The measured columns are recomputed from panel snapshots by
// update(), which the page calls about once a second.  The column headers
// also carry the Russian terms of that comparison, for readers who know it
// in Russian.

import { el, fmtBytes, fmtMs } from './util.js';

export const TECHNIQUES = [
  {
    key: 'short', name: 'Short polling', mechanism: 'Periodic HTTP requests; the server answers at once',
    latency: 'High (up to one interval)', load: 'High', complexity: 'Low',
    use: 'Rare updates, prototypes',
  },
  {
    key: 'long', name: 'Long polling', mechanism: 'An HTTP request the server holds until there is news',
    latency: 'Medium', load: 'Medium', complexity: 'Medium',
    use: 'Notifications, infrequent events',
  },
  {
    key: 'sse', name: 'Server-Sent Events', mechanism: 'One long HTTP response the server writes events into',
    latency: 'Very low', load: 'Low to medium', complexity: 'Low',
    use: 'Live feeds, dashboards, notifications', extra: true,
  },
  {
    key: 'ws', name: 'WebSockets', mechanism: 'A persistent two-way connection',
    latency: 'Very low', load: 'High', complexity: 'High',
    use: 'Real time: chat, games, streams',
  },
  {
    key: 'webhook', name: 'Webhooks', mechanism: 'The server POSTs to a URL you registered',
    latency: 'Low', load: 'Low', complexity: 'Medium',
    use: 'Asynchronous events, integrations between systems',
  },
];

const COLS = [
  ['mechanism', 'Mechanism', 'Механизм'],
  ['latency', 'Latency', 'Задержка'],
  ['load', 'Server load', 'Нагрузка на сервер'],
  ['complexity', 'Complexity', 'Сложность'],
  ['use', 'Use for', 'Применение'],
];

export class CompareTable {
  constructor(table) {
    this.table = table;
    this.cells = {};
    this.build();
  }

  build() {
    const head = el('tr', {},
      el('th', { scope: 'col' }, 'Technique', el('span', { class: 'ru', lang: 'ru' }, 'Технология')),
      COLS.map(([, en, ru]) => el('th', { scope: 'col' }, en, el('span', { class: 'ru', lang: 'ru' }, ru))),
      el('th', { scope: 'col', class: 'live' }, 'Median latency', el('span', { class: 'ru' }, 'measured here')),
      el('th', { scope: 'col', class: 'live' }, 'HTTP requests per message', el('span', { class: 'ru' }, 'measured here')),
      el('th', { scope: 'col', class: 'live' }, 'Bytes per message', el('span', { class: 'ru' }, 'measured here')),
      el('th', { scope: 'col', class: 'live' }, 'Messages', el('span', { class: 'ru' }, 'measured here')));
    const liveLabels = { latency: 'Median latency here', rpm: 'HTTP requests per message', bpm: 'Bytes per message', n: 'Messages' };
    const rows = TECHNIQUES.map((t) => {
      const live = ['latency', 'rpm', 'bpm', 'n'].map((k) => el('td', { class: 'live num', 'data-k': k, 'data-label': liveLabels[k] }, '—'));
      this.cells[t.key] = Object.fromEntries(['latency', 'rpm', 'bpm', 'n'].map((k, i) => [k, live[i]]));
      return el('tr', { 'data-technique': t.key },
        el('th', { scope: 'row' }, t.name, t.extra ? el('span', { class: 'ru' }, 'often left out of such comparisons') : null),
        COLS.map(([k, en]) => el('td', { 'data-label': en }, t[k])),
        live);
    });
    this.table.classList.add('stack');
    this.table.replaceChildren(
      el('caption', {}, 'What is usually said of each technique, and what this page measures right now on this channel'),
      el('thead', {}, head),
      el('tbody', {}, rows));
  }

  // snaps: { key: panel snapshot }
  update(snaps) {
    for (const t of TECHNIQUES) {
      const s = snaps[t.key];
      const c = this.cells[t.key];
      if (!s || !c) continue;
      const n = s.received;
      c.n.textContent = String(n);
      c.latency.textContent = fmtMs(s.latency.median);
      if (t.key === 'webhook') {
        // The technique's cost is the server's POST to the receiver, not
        // the page's stream of receipts.
        c.rpm.textContent = n ? '1 POST, by the server' : '—';
        c.bpm.textContent = n ? 'one signed envelope' : '—';
        continue;
      }
      c.rpm.textContent = n ? (s.requests / n).toFixed(s.requests / n < 10 ? 2 : 0) : s.requests ? `${s.requests} so far` : '—';
      c.bpm.textContent = n ? fmtBytes(s.bytes / n) : s.bytes ? `${fmtBytes(s.bytes)} so far` : '—';
    }
  }
}
