// util.js - small helpers shared by the demo page's modules: a DOM
// builder, number formatting, UTF-8 sizes, and the reconnect backoff.
//
// Design: plain functions and one tiny class, no state of their own, so
// every other module can import what it needs without set-up.

// el('li', { class: 'x', 'data-id': 3 }, 'text', child) -> an element.
// Attributes whose value is null, undefined or false are left out; a
// value of true sets an empty attribute.  Children may be strings, nodes,
// arrays of them, or null (skipped).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

// Milliseconds for people: "840 ms", "2.4 s", "1 min 5 s"; "—" for none.
export function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms - m * 60000) / 1000)} s`;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '—';
  if (n < 1000) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e4 ? 1 : 0)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function fmtNum(n, digits = 1) {
  if (!Number.isFinite(n)) return '—';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

// The number of bytes `s` takes in UTF-8, without encoding it.
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

// What an HTTP/1.1 response head costs on the wire, as far as the page
// can see it: the status line and every header fetch() exposes.
export function headBytes(res) {
  let n = `HTTP/1.1 ${res.status} ${res.statusText}\r\n\r\n`.length;
  for (const [k, v] of res.headers) n += k.length + 2 + utf8Length(v) + 2;
  return n;
}

// Exponential backoff with jitter and a cap: 0.5 s, 1 s, 2 s, 4 s, 8 s,
// 10 s, 10 s ... each +-20 %.  reset() after a success.
export class Backoff {
  constructor({ base = 500, cap = 10000, factor = 2, jitter = 0.2 } = {}) {
    Object.assign(this, { base, cap, factor, jitter });
    this.attempt = 0;
  }

  next() {
    const d = Math.min(this.cap, this.base * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(d * (1 + (Math.random() * 2 - 1) * this.jitter));
  }

  reset() { this.attempt = 0; }
}

// The median of a list of numbers (null when empty).
export function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const CHANNEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

// Wait `ms`, or less if `signal` aborts (then resolve early, never throw).
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
