// bench.js - the measured comparison: www/bench.json (written by
// `make bench`) as a table and as bar charts drawn here in inline SVG.
//
// The file may be missing (nobody ran the benchmarks yet): the section
// then says how to produce it.  Its exact shape belongs to the benchmark
// scripts, so this reader is deliberately tolerant:
//   - the rows are the file itself when it is an array, else its first
//     property holding an array of objects (rows, results, cases, ...);
//     nested objects in a row are flattened one level ("result": {...});
//   - rows with numeric "logcast" (and "peer") columns, as in the
//     benchmarks' rows.tsv (scenario, case, metric, unit, logcast, peer,
//     ratio, target, verdict), are charted logcast against the peer, one
//     chart per scenario and unit;
//   - otherwise every column named like a latency (p50_ms, p99_ms, ...)
//     is charted per row.
// Top-level scalar fields (date, machine, ...) are shown above the table.
// Charts are redrawn to the container's width (ResizeObserver), so their
// text stays readable on a phone.

import { el, fmtNum } from './util.js';

const SVG = 'http://www.w3.org/2000/svg';
const MAX_COLS = 12;
const SERIES_COLORS = ['var(--series-1)', 'var(--series-2)', 'var(--series-3)', 'var(--series-4)'];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const isScalar = (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

function flatten(row) {
  const out = {};
  for (const [k, v] of Object.entries(row)) {
    if (isScalar(v)) out[k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) if (isScalar(v2) && !(k2 in out) && !(k2 in row)) out[k2] = v2;
    }
  }
  return out;
}

// { meta: {k: scalar}, rows: [flat objects] } or null when nothing usable.
export function normalize(json) {
  let rows = null;
  const meta = {};
  if (Array.isArray(json)) rows = json;
  else if (json && typeof json === 'object') {
    for (const [k, v] of Object.entries(json)) {
      if (isScalar(v)) meta[k] = v;
      else if (!rows && Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object')) rows = v;
    }
  }
  if (!rows) return null;
  rows = rows.filter((r) => r && typeof r === 'object').map(flatten);
  return rows.length ? { meta, rows } : null;
}

function columns(rows) {
  const cols = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols.slice(0, MAX_COLS);
}

function cell(v) {
  if (v === null || v === undefined) return '—';
  if (isNum(v)) return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 10) / 10) : fmtNum(v, 2);
  return String(v);
}

// The charts to draw: [{ title, unit, series: [names], items: [{ label, values: [n|null] }] }]
export function chartsOf(norm) {
  const { rows, meta } = norm;
  const charts = [];
  if (rows.some((r) => isNum(r.logcast))) {
    const peer = typeof meta.peer === 'string' ? meta.peer : 'peer';
    const hasPeer = rows.some((r) => isNum(r.peer));
    // One chart per scenario and unit, in the order they first appear.
    const groups = new Map();
    for (const r of rows) {
      if (!isNum(r.logcast)) continue;
      const unit = r.unit || '';
      const key = `${r.scenario ?? ''}\u0000${unit || r.metric || ''}`;
      if (!groups.has(key)) groups.set(key, { scenario: r.scenario, unit, metric: r.metric, items: [] });
      groups.get(key).items.push({
        label: [r.case, unit ? r.metric : null].filter((x) => x !== undefined && x !== null && x !== '').join(' · ')
          + (r.target ? ` — target ${r.target}${r.verdict ? `: ${r.verdict}` : ''}` : ''),
        values: hasPeer ? [r.logcast, isNum(r.peer) ? r.peer : null] : [r.logcast],
      });
    }
    for (const g of groups.values()) {
      const what = g.unit ? `in ${g.unit}` : g.metric || 'values';
      charts.push({
        title: `${g.scenario ? `${g.scenario}: ` : ''}${what}${hasPeer ? ' (each pair scaled to its larger bar)' : ''}`,
        unit: g.unit, series: hasPeer ? ['logcast', peer] : ['logcast'], items: g.items,
      });
    }
    return charts;
  }
  const cols = Object.keys(rows[0] || {}).filter((k) => rows.some((r) => isNum(r[k])));
  const lat = cols.filter((k) => /(^|_)p\d+|latency|_ms$/.test(k)).slice(0, 4);
  const series = lat.length ? lat : cols.slice(0, 2);
  if (!series.length) return charts;
  const labelKeys = Object.keys(rows[0]).filter((k) => !isNum(rows[0][k])).slice(0, 2);
  if ('clients' in rows[0]) labelKeys.push('clients');
  charts.push({
    title: lat.length ? 'Latency, in ms' : series.join(', '),
    unit: lat.length ? 'ms' : '',
    series,
    items: rows.map((r, i) => ({
      label: labelKeys.map((k) => (k === 'clients' ? `${r[k]} clients` : r[k])).filter((x) => x !== undefined).join(' · ') || `row ${i + 1}`,
      values: series.map((k) => (isNum(r[k]) ? r[k] : null)),
    })),
  });
  return charts;
}

// One horizontal grouped bar chart, `width` px wide.  With two or more
// series (logcast against a peer) each item's bars are scaled to that
// item's larger value: the chart compares within an item, and one slow
// outlier does not flatten every other pair.  On a wide screen the item
// labels sit left of the bars; on a narrow one, on their own line above
// them, so long case names stay readable.
export function barChart(chart, width) {
  const wide = width >= 720;
  const barH = 15;
  const gap = 8;
  const top = 24;
  const charW = 6.6;                 // average width of an 11-12 px glyph
  const labelW = wide ? Math.min(420, Math.round(width * 0.42)) : 0;
  const labelH = wide ? 0 : 16;
  const groupH = labelH + chart.series.length * barH + gap;
  const height = top + chart.items.length * groupH;
  const left = wide ? labelW + 8 : 2;
  const plotW = Math.max(60, width - left - 4);
  const perItem = chart.series.length > 1;
  const globalMax = Math.max(...chart.items.flatMap((it) => it.values.filter(isNum)), 0) || 1;
  const title = `${chart.title}: ${chart.series.join(' vs ')}`;
  const root = svg('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart',
  }, svg('title', {}, title));
  let x = left;
  chart.series.forEach((name, i) => {
    const shown = name.length > 40 ? `${name.slice(0, 39)}…` : name;
    root.append(svg('rect', { x, y: 4, width: 12, height: 12, rx: 2, fill: SERIES_COLORS[i % SERIES_COLORS.length] }));
    root.append(svg('text', { x: x + 16, y: 14, class: 'legend' }, shown));
    x += 28 + shown.length * charW;
  });
  const maxChars = Math.floor((wide ? labelW : plotW) / charW);
  chart.items.forEach((it, gi) => {
    const y0 = top + gi * groupH;
    const max = perItem ? Math.max(...it.values.filter(isNum), 0) || 1 : globalMax;
    const label = it.label.length > maxChars ? `${it.label.slice(0, maxChars - 1)}…` : it.label;
    root.append(wide
      ? svg('text', { x: labelW, y: y0 + (chart.series.length * barH) / 2 + 4, 'text-anchor': 'end', class: 'label' },
        label, svg('title', {}, it.label))
      : svg('text', { x: 2, y: y0 + 12, class: 'label' }, label, svg('title', {}, it.label)));
    it.values.forEach((v, si) => {
      const y = y0 + labelH + si * barH;
      if (!isNum(v)) {
        root.append(svg('text', { x: left + 2, y: y + barH - 4, class: 'value' }, 'n/a'));
        return;
      }
      const text = `${cell(v)}${chart.unit ? ` ${chart.unit}` : ''}`;
      const textW = text.length * charW + 8;
      const w = Math.max(2, (v / max) * (plotW - (perItem ? textW : 0)));
      root.append(svg('rect', {
        x: left, y: y + 1, width: w, height: barH - 3, rx: 2, fill: SERIES_COLORS[si % SERIES_COLORS.length],
      }, svg('title', {}, `${it.label}, ${chart.series[si]}: ${text}`)));
      const inside = w + textW > plotW;
      root.append(svg('text', {
        x: inside ? left + w - 4 : left + w + 4, y: y + barH - 4,
        'text-anchor': inside ? 'end' : 'start', class: inside ? 'value inside' : 'value',
      }, text));
    });
  });
  return root;
}

// Fill `section` (its .bench-body) from bench.json next to the page.
export async function showBench(body, url = 'bench.json') {
  let res;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch {
    body.replaceChildren(el('p', { class: 'muted' }, 'The measurements could not be loaded (server unreachable).'));
    return 'error';
  }
  // Before `make bench` has run, the web server answers bench.json with
  // bench-absent.json (a rewrite in lighttpd.conf / apache.conf), so no
  // request of the page ever fails; a bare 404 means the same.
  let data = null;
  if (res.ok) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (res.status === 404 || (data && data.absent === true)) {
    body.replaceChildren(
      el('p', {}, 'No measurements yet. Run ', el('code', {}, 'make bench'),
        ' in the checkout: it measures every technique under load (thousands of subscribers, against Nchan as a reference) and writes ',
        el('code', {}, 'www/bench.json'), '; then reload this page to see the table and the charts here.'));
    return 'absent';
  }
  let norm = null;
  try {
    norm = data ? normalize(data) : null;
  } catch {
    norm = null;
  }
  if (!norm) {
    body.replaceChildren(el('p', { class: 'warn' },
      `bench.json is there but could not be read (HTTP ${res.status}); run `, el('code', {}, 'make bench'), ' again.'));
    return 'error';
  }
  const cols = columns(norm.rows);
  const { title, ...rest } = norm.meta;
  const metaItems = Object.entries(rest).map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, cell(v))));
  const charts = chartsOf(norm);
  const chartBox = el('div', { class: 'charts' });
  const table = el('div', { class: 'table-scroll', role: 'region', 'aria-label': 'Benchmark results table', tabindex: 0 },
    el('table', { class: 'bench-table stack' },
      el('caption', {}, `bench.json: ${norm.rows.length} rows`),
      el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c)))),
      el('tbody', {}, norm.rows.map((r) => el('tr', {}, cols.map((c, i) => (i === 0
        ? el('th', { scope: 'row' }, cell(r[c]))
        : el('td', { class: isNum(r[c]) ? 'num' : null, 'data-label': c }, cell(r[c])))))))));
  // The table is long on a phone (a card per row): folded there, open on
  // wider screens.
  const details = el('details', { class: 'bench-details', open: matchMedia('(min-width: 761px)').matches },
    el('summary', {}, `The measurements as a table (${norm.rows.length} rows)`), table);
  body.replaceChildren(
    typeof title === 'string' ? el('p', { class: 'bench-title' }, title) : '',
    metaItems.length ? el('dl', { class: 'meta' }, metaItems) : '',
    chartBox,
    details);
  const draw = () => {
    const w = Math.max(280, Math.floor(chartBox.clientWidth || 600));
    chartBox.replaceChildren(...charts.map((c) => el('figure', {}, el('figcaption', {}, c.title), barChart(c, w))));
  };
  draw();
  let lastW = chartBox.clientWidth;
  new ResizeObserver(() => {
    if (Math.abs(chartBox.clientWidth - lastW) > 8) {
      lastW = chartBox.clientWidth;
      draw();
    }
  }).observe(chartBox);
  return 'ok';
}
