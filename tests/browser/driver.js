#!/usr/bin/env node
// driver.js - a real browser on the demo page, driven step by step by a
// shell test (tests/t6000-demo-page.sh, through lib-browser.sh).
//
//   node driver.js --probe
//       start Chromium, open a blank page, stop; exit 0 when that works,
//       else print why and exit 1 (the BROWSER prerequisite)
//   node driver.js --port P --url URL --profile DIR --shots DIR [--no-bench]
//       start Chromium (Debian's /usr/bin/chromium, a fresh profile in
//       DIR), then answer POST http://127.0.0.1:P/<step> with a JSON body
//       of arguments, one step at a time: 200 and a JSON result, or 500
//       and the reason the step failed.  --no-bench: www/bench.json does
//       not exist, so its 404 is expected.
//
// Steps (arguments in brackets; times in ms):
//   open [width,height,timeout]  load URL; wait until every panel is connected
//   interval {seconds}           set the short-poll interval with the page's control
//   publish {text,via,mode,refused}  type into the publish box and press
//                                Enter; result: the id the page reports, or
//                                with refused, the reason it shows
//   fill {selector,value}        type into a field, then Tab out of it
//   shown {selector}             whether an element is visible
//   keyboard {text}              from the top of the page, Tab until the
//                                publish box has focus, type, press Enter
//   burst {n}                    set the burst size, press "Burst"
//   arrive {id,timeout,within,panels}  wait until every panel (or these) shows id; result:
//                                per panel its latency (publish -> display);
//                                fails if one is over within[panel]
//   complete {}                  every panel: ids after its base, each once,
//                                in order, nothing missing
//   toggle {panels}              press the Stop/Start button of these panels
//   state {state,timeout}        wait until every running panel is in state
//   retries {n,timeout}          wait until every running panel made n more
//                                requests (attempts) than now
//   banner {kind,timeout}        the page-wide connection banner; with kind,
//                                wait until it is of that kind ("" = hidden)
//   channel {name}               switch the page to another channel
//   gaps {}                      every panel's order check and what it shows
//   bench {}                     what the benchmark section shows
//   snapshot {}                  window.logcastDemo.snapshot()
//   phase {name}                 label what follows ("restart": failed
//                                connections and 502-504 are expected;
//                                "refused": a 401 is)
//   console {}                   the console and page errors so far; fails
//                                on any but the browser's own reports of
//                                failed connections
//   shot {name,width,height,full}  a screenshot to DIR/<name>.png
//   quit {}
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PANELS = ['short', 'long', 'sse', 'ws', 'webhook'];

function playwright() {
  return require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));
}

async function probe() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`Node.js ${process.versions.node} is older than 20`);
  if (!fs.existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is not installed');
  let pw;
  try {
    pw = playwright();
  } catch (e) {
    throw new Error('playwright-core is not installed in tests/node_modules (npm ci)');
  }
  const browser = await pw.chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS, timeout: 30000 });
  const page = await browser.newPage();
  const two = await page.evaluate(() => 1 + 1);
  const version = browser.version();
  await browser.close();
  if (two !== 2) throw new Error('the browser does not run scripts');
  return version;
}

function parseArgs(argv) {
  const o = { bench: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--probe') o.probe = true;
    else if (a === '--no-bench') o.bench = false;
    else if (['--port', '--url', '--profile', '--shots'].includes(a)) o[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ------------------------------------------------------------------ steps

class Driver {
  constructor(opt) {
    this.opt = opt;
    this.phase = 'normal';
    this.console = [];          // { phase, type, text, url }
    this.errors = [];           // page errors (uncaught exceptions)
  }

  async launch() {
    fs.mkdirSync(this.opt.profile, { recursive: true });
    this.context = await playwright().chromium.launchPersistentContext(this.opt.profile, {
      executablePath: '/usr/bin/chromium', args: ARGS, headless: true,
      viewport: { width: 1280, height: 800 }, timeout: 30000,
    });
    this.page = this.context.pages()[0] || await this.context.newPage();
    this.page.on('console', (m) => {
      this.console.push({ phase: this.phase, type: m.type(), text: m.text(), url: m.location().url || '' });
    });
    this.page.on('pageerror', (e) => this.errors.push({ phase: this.phase, text: String(e && e.stack || e) }));
  }

  snapshot() {
    return this.page.evaluate(() => {
      const s = window.logcastDemo.snapshot();
      const b = document.querySelector('#banner');
      s.banner = { kind: b.dataset.kind || '', text: b.hidden ? '' : b.textContent };
      return s;
    });
  }

  async waitPanels(pred, arg, timeout, what) {
    try {
      await this.page.waitForFunction(pred, arg, { timeout, polling: 50 });
    } catch (e) {
      const s = await this.snapshot().catch(() => null);
      const states = s ? PANELS.map((k) => `${k}=${s.panels[k].state}@${s.panels[k].seq.lastId}`).join(' ') : '?';
      throw new Error(`${what} not within ${timeout} ms (${states})`);
    }
  }

  async open({ width = 1280, height = 800, timeout = 30000 } = {}) {
    const t0 = Date.now();
    await this.page.setViewportSize({ width, height });
    await this.page.goto(this.opt.url, { waitUntil: 'load' });
    await this.waitPanels(
      (keys) => window.logcastDemo && keys.every((k) => window.logcastDemo.panels[k].stateName === 'open'),
      PANELS, timeout, 'every panel connected');
    return { ms: Date.now() - t0 };
  }

  async interval({ seconds }) {
    await this.page.fill('#short-interval', String(seconds));
    await this.page.press('#short-interval', 'Tab');       // commits the change
    const ms = await this.page.evaluate(() => window.logcastDemo.panels.short.transport.interval);
    if (ms !== seconds * 1000) throw new Error(`the short poll interval is ${ms} ms, not ${seconds * 1000}`);
    return { interval_ms: ms };
  }

  async publishedId(before, timeout = 10000) {
    const h = await this.page.waitForFunction((old) => {
      const t = document.querySelector('#publish-status').textContent;
      return t !== old && (/Published #(\d+)/.exec(t)?.[1] || /^Not published/.test(t) && t);
    }, before, { timeout, polling: 20 });
    const v = await h.jsonValue();
    if (!/^\d+$/.test(String(v))) throw new Error(`the page did not publish: ${v}`);
    return Number(v);
  }

  async publish({ text, via = 'http', mode = 'text', refused = false }) {
    await this.page.check(`input[name="via"][value="${via}"]`);
    await this.page.check(`input[name="mode"][value="${mode}"]`);
    const before = await this.page.textContent('#publish-status');
    await this.page.fill('#publish-text', text);
    await this.page.press('#publish-text', 'Enter');
    if (refused) {
      // The server is to refuse it: the status line says why.
      const h = await this.page.waitForFunction((old) => {
        const t = document.querySelector('#publish-status').textContent;
        return t !== old && /^(Not published|The WebSocket server answered)/.test(t) && t;
      }, before, { timeout: 10000, polling: 20 });
      return { refused: await h.jsonValue() };
    }
    if (via === 'ws') return { sent: true };
    return { id: await this.publishedId(before) };
  }

  // Type into a field and leave it (which commits it), as a user would.
  async fill({ selector, value }) {
    await this.page.fill(selector, value);
    await this.page.press(selector, 'Tab');
    return {};
  }

  // Whether an element is shown.
  async shown({ selector }) {
    return { shown: await this.page.isVisible(selector) };
  }

  async keyboard({ text }) {
    await this.page.check('input[name="via"][value="http"]');
    await this.page.check('input[name="mode"][value="text"]');
    // From the start of the page: nothing focused yet right after loading;
    // otherwise a click on the heading moves the browser's sequential
    // focus navigation starting point back to the top.
    if (await this.page.evaluate(() => document.activeElement !== document.body)) {
      await this.page.click('h1');
    }
    const before = await this.page.textContent('#publish-status');
    let tabs = 0;
    const focused = () => this.page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    for (; tabs < 20 && (await focused()) !== 'publish-text'; tabs++) await this.page.keyboard.press('Tab');
    if ((await focused()) !== 'publish-text') throw new Error(`the publish box is not reachable with Tab (${tabs} presses)`);
    const ring = await this.page.evaluate(() => {
      const cs = getComputedStyle(document.activeElement);
      return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
    });
    if (!ring) throw new Error('the focused publish box shows no focus ring');
    await this.page.keyboard.type(text);
    await this.page.keyboard.press('Enter');
    return { tabs, id: await this.publishedId(before) };
  }

  async burst({ n = 50, timeout = 60000 }) {
    await this.page.check('input[name="via"][value="http"]');
    await this.page.fill('#burst-n', String(n));
    const t0 = Date.now();
    await this.page.click('#burst');
    const h = await this.page.waitForFunction(() => {
      const t = document.querySelector('#publish-status').textContent;
      return /^Burst of \d+ published over HTTP: ids (\d+)–(\d+)/.exec(t)?.slice(1) || (/^Burst stopped/.test(t) && t);
    }, null, { timeout, polling: 20 });
    const v = await h.jsonValue();
    if (!Array.isArray(v)) throw new Error(v);
    return { first: Number(v[0]), last: Number(v[1]), ms: Date.now() - t0 };
  }

  async arrive({ id, timeout = 30000, within = {}, panels = PANELS }) {
    await this.waitPanels(
      ([keys, want]) => keys.every((k) => window.logcastDemo.panels[k].seq.lastId >= want),
      [panels, id], timeout, `id ${id} in every panel`);
    const out = {};
    const late = [];
    for (const k of panels) {
      const a = await this.page.evaluate(([key, want]) => window.logcastDemo.arrival(key, want), [k, id]);
      out[k] = a ? a.latency : null;
      if (within[k] !== undefined && !(a && a.latency !== null && a.latency <= within[k])) {
        late.push(`${k}: ${a ? a.latency : 'not recorded'} ms > ${within[k]} ms`);
      }
    }
    if (late.length) throw new Error(`too late: ${late.join(', ')}`);
    return out;
  }

  async complete() {
    const s = await this.snapshot();
    const bad = [];
    const out = {};
    for (const k of PANELS) {
      const q = s.panels[k].seq;
      out[k] = `${q.base + 1}..${q.lastId} (${q.count})`;
      if (q.missing || q.dups || q.late || q.count !== q.lastId - q.base) {
        bad.push(`${k}: base ${q.base} last ${q.lastId} count ${q.count} missing ${q.missing} dups ${q.dups} late ${q.late}`);
      }
      const shown = await this.page.$eval(`#panel-${k} .check`, (e) => e.textContent);
      if (!bad.length && q.count && !/complete and in order/.test(shown)) bad.push(`${k} says: ${shown}`);
    }
    if (bad.length) throw new Error(bad.join('; '));
    return out;
  }

  // Press the Stop/Start button of each panel (all by default); result:
  // the states after.
  async toggle({ panels = PANELS } = {}) {
    for (const k of panels) await this.page.click(`#panel-${k} button.toggle`);
    const s = await this.snapshot();
    return Object.fromEntries(panels.map((k) => [k, s.panels[k].state]));
  }

  // Wait until every running panel has made n more requests than now:
  // it keeps trying (with backoff) while the server is away.
  async retries({ n = 2, timeout = 30000 }) {
    const s0 = await this.snapshot();
    const from = Object.fromEntries(PANELS.map((k) => [k, s0.panels[k].requests]));
    const t0 = Date.now();
    await this.waitPanels(([keys, base, more]) => keys.every((k) => {
      const p = window.logcastDemo.panels[k];
      return !p.running || p.meter.requests >= base[k] + more;
    }), [PANELS, from, n], timeout, `${n} more attempts by every panel`);
    return { ms: Date.now() - t0 };
  }

  // Follow another channel with the page's channel box.
  async channel({ name, timeout = 30000 }) {
    await this.page.fill('#channel', name);
    await this.page.press('#channel', 'Enter');
    await this.waitPanels(([keys, want]) => keys.every((k) => {
      const p = window.logcastDemo.panels[k];
      return p.channel === want && p.stateName === 'open';
    }), [PANELS, name], timeout, `every panel connected to ${name}`);
    const s = await this.snapshot();
    return Object.fromEntries(PANELS.map((k) => [k, s.panels[k].seq.base]));
  }

  // Each panel's order check, and the badges it shows.
  async gaps() {
    const s = await this.snapshot();
    const out = {};
    for (const k of PANELS) {
      out[k] = { ...s.panels[k].seq, shown: await this.page.$eval(`#panel-${k} .check`, (e) => e.textContent) };
    }
    return out;
  }

  // What the benchmark section shows.
  async bench() {
    return this.page.evaluate(() => {
      const b = document.querySelector('#bench-body');
      return {
        text: b.textContent,
        rows: b.querySelectorAll('table tbody tr').length,
        charts: b.querySelectorAll('svg.chart').length,
        bars: b.querySelectorAll('svg.chart rect[height]').length,
      };
    });
  }

  async state({ state, timeout = 30000 }) {
    await this.waitPanels(
      ([keys, want]) => keys.every((k) => {
        const p = window.logcastDemo.panels[k];
        return !p.running || p.stateName === want;
      }),
      [PANELS, state], timeout, `every panel ${state}`);
    const s = await this.snapshot();
    return Object.fromEntries(PANELS.map((k) => [k, s.panels[k].state]));
  }

  async banner({ kind, timeout = 10000 } = {}) {
    if (kind !== undefined) {
      try {
        await this.page.waitForFunction((k) => (document.querySelector('#banner').dataset.kind || '') === k,
          kind, { timeout, polling: 50 });
      } catch {
        throw new Error(`the banner is not "${kind}" within ${timeout} ms: ${JSON.stringify((await this.snapshot()).banner)}`);
      }
    }
    return (await this.snapshot()).banner;
  }

  setPhase({ name }) {
    this.phase = name;
    return { phase: name };
  }

  // Failed connections are the browser's own reports while the server is
  // down; anything else in the console is the page's.
  consoleReport() {
    const expected = (m) => {
      if (m.type !== 'error' && m.type !== 'warning') return true;
      if (m.phase === 'restart') {
        if (/net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/.test(m.text)) return true;
        if (/^WebSocket connection to '.*' failed/.test(m.text)) return true;
        if (/status of 50[234]/.test(m.text)) return true;
      }
      if (m.phase === 'refused' && /status of 401/.test(m.text)) return true;
      return false;
    };
    const unexpected = this.console.filter((m) => !expected(m));
    const report = {
      messages: this.console.length,
      expected_failures: this.console.filter((m) => m.type === 'error' && expected(m)).length,
      unexpected, page_errors: this.errors,
    };
    if (unexpected.length || this.errors.length) {
      throw new Error(`console: ${JSON.stringify({ unexpected, page_errors: this.errors })}`);
    }
    return report;
  }

  async shot({ name, width = 1280, height = 800, full = false }) {
    await this.page.setViewportSize({ width, height });
    await this.page.evaluate(() => window.scrollTo(0, 0));
    await this.page.waitForTimeout(400);            // charts redraw to the width
    const file = path.join(this.opt.shots, `${name}.png`);
    fs.mkdirSync(this.opt.shots, { recursive: true });
    await this.page.screenshot({ path: file, fullPage: full });
    const overflow = await this.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) throw new Error(`the page is ${overflow} px wider than the ${width} px window`);
    return { file, bytes: fs.statSync(file).size };
  }

  async run(step, args) {
    switch (step) {
      case 'open': return this.open(args);
      case 'interval': return this.interval(args);
      case 'publish': return this.publish(args);
      case 'keyboard': return this.keyboard(args);
      case 'burst': return this.burst(args);
      case 'arrive': return this.arrive(args);
      case 'complete': return this.complete(args);
      case 'state': return this.state(args);
      case 'toggle': return this.toggle(args);
      case 'retries': return this.retries(args);
      case 'fill': return this.fill(args);
      case 'shown': return this.shown(args);
      case 'channel': return this.channel(args);
      case 'gaps': return this.gaps(args);
      case 'bench': return this.bench(args);
      case 'banner': return this.banner(args);
      case 'snapshot': return this.snapshot(args);
      case 'phase': return this.setPhase(args);
      case 'console': return this.consoleReport(args);
      case 'shot': return this.shot(args);
      default: throw new Error(`unknown step ${step}`);
    }
  }
}

async function serve(opt) {
  const d = new Driver(opt);
  await d.launch();
  let queue = Promise.resolve();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const step = req.url.replace(/^\//, '');
      queue = queue.then(async () => {
        if (step === 'quit') {
          res.end('{}\n');
          await d.context.close().catch(() => {});
          server.close();
          process.exit(0);
        }
        try {
          const result = await d.run(step, body ? JSON.parse(body) : {});
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify(result ?? {})}\n`);
        } catch (e) {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`${step}: ${e && e.message || e}\n`);
        }
      });
    });
  });
  server.listen(Number(opt.port), '127.0.0.1', () => process.stdout.write(`driver: listening on ${opt.port}\n`));
  const stop = async () => {
    await d.context.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  if (opt.probe) {
    process.stdout.write(`${await probe()}\n`);
    return;
  }
  for (const k of ['port', 'url', 'profile', 'shots']) if (!opt[k]) throw new Error(`--${k} is needed`);
  await serve(opt);
}

main().catch((e) => {
  process.stderr.write(`driver: ${e && e.message || e}\n`);
  process.exit(1);
});
