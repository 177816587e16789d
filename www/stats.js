// stats.js - what each panel counts, in bounded memory.
//
// Meter: messages received, HTTP requests made, bytes received, and the
// publish->display latency (last, median over the most recent LAT_KEEP,
// worst since the last reset).
//
// SeqCheck: is what a panel received complete and in order?  Message ids
// of a channel grow by exactly 1, so the check keeps only the next id it
// expects plus the list of gaps: an id above it opens a gap, an id below
// it is either a late one filling a gap (out of order) or a duplicate.
// A gap is later classified as "retention" when the server reports a
// first retained id (X-First-Id) past it: those messages are gone from
// the log, not lost by the transport.

const LAT_KEEP = 500;       // latencies kept for the median
const GAPS_KEEP = 20;       // gaps kept in detail (their total is exact)

export class Meter {
  constructor() { this.reset(); }

  reset() {
    this.received = 0;
    this.requests = 0;
    this.bytes = 0;
    this.lastLatency = null;
    this.worst = null;
    this.recent = [];
    this.cursor = 0;
  }

  latency(ms) {
    this.lastLatency = ms;
    if (this.worst === null || ms > this.worst) this.worst = ms;
    if (this.recent.length < LAT_KEEP) this.recent.push(ms);
    else this.recent[this.cursor++ % LAT_KEEP] = ms;
  }

  get median() {
    if (!this.recent.length) return null;
    const s = [...this.recent].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  snapshot() {
    return {
      received: this.received, requests: this.requests, bytes: this.bytes,
      latency: { last: this.lastLatency, median: this.median, worst: this.worst },
    };
  }
}

export class SeqCheck {
  constructor(base = 0) { this.reset(base); }

  // Expect ids after `base` (the channel's last id when the panel began).
  reset(base) {
    this.base = base;
    this.next = base + 1;
    this.gaps = [];           // { from, to, why: 'unknown' | 'retention' }
    this.missing = 0;         // ids in all gaps, including ones not kept
    this.dups = 0;
    this.late = 0;            // arrived after a later id (out of order)
    this.count = 0;
  }

  get lastId() { return this.next - 1; }

  // 'ok', 'gap' (ok, but ids were skipped), 'late', 'dup' or 'old' (at or
  // before the base: from before this panel began, not counted).
  add(id) {
    if (id <= this.base) return 'old';
    if (id < this.next) {
      const g = this.gaps.find((x) => x.from <= id && id <= x.to);
      if (!g) { this.dups++; return 'dup'; }
      this.fill(g, id);
      this.late++;
      this.count++;
      return 'late';
    }
    let r = 'ok';
    if (id > this.next) {
      this.gaps.push({ from: this.next, to: id - 1, why: 'unknown' });
      if (this.gaps.length > GAPS_KEEP) this.gaps.shift();
      this.missing += id - this.next;
      r = 'gap';
    }
    this.next = id + 1;
    this.count++;
    return r;
  }

  fill(g, id) {
    this.missing--;
    const i = this.gaps.indexOf(g);
    const parts = [];
    if (g.from < id) parts.push({ ...g, to: id - 1 });
    if (id < g.to) parts.push({ ...g, from: id + 1 });
    this.gaps.splice(i, 1, ...parts);
  }

  // The server keeps ids from `firstId` on: earlier gaps were retention.
  retained(firstId) {
    let changed = false;
    for (const g of this.gaps) {
      if (g.why === 'unknown' && g.to < firstId) { g.why = 'retention'; changed = true; }
    }
    return changed;
  }

  get ok() { return this.missing === 0 && this.dups === 0 && this.late === 0; }

  snapshot() {
    return {
      base: this.base, lastId: this.lastId, count: this.count,
      missing: this.missing, dups: this.dups, late: this.late,
      gaps: this.gaps.map((g) => ({ ...g })),
    };
  }
}
