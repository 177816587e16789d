#!/usr/bin/env node
// screenshot.js - make the README's picture of the demo page, www/screenshot.png.
//
//   make run &                                  # a fresh data directory reads best
//   node tests/browser/screenshot.js http://127.0.0.1:8080/ www/screenshot.png
//
// Opens the page at 1280x800 in Debian's Chromium (as the tests do), sets
// the short-poll interval to 2 s, publishes a few messages and a burst of
// 20 from the page itself, waits for every panel to show them, and saves
// the first screen.  It publishes to channel "chat" of that server.
'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function main(url, out) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.goto(url);
    await page.waitForFunction(() => window.logcastDemo
      && Object.values(window.logcastDemo.panels).every((p) => p.stateName === 'open'), null, { timeout: 30000 });
    await page.fill('#short-interval', '2');
    await page.press('#short-interval', 'Tab');
    const say = async (text) => {
      await page.fill('#publish-text', text);
      await page.press('#publish-text', 'Enter');
      await page.waitForTimeout(700);
    };
    for (const t of ['Hello from the demo page 👋', 'Short polls ask; long polls wait', 'SSE and WebSockets push']) await say(t);
    await page.fill('#burst-n', '20');
    await page.click('#burst');
    await page.waitForTimeout(4000);
    await say('Webhooks are POSTed, signed');
    const last = await page.evaluate(() => Math.max(...Object.values(window.logcastDemo.panels).map((p) => p.seq.lastId)));
    await page.waitForFunction((id) => Object.values(window.logcastDemo.panels).every((p) => p.seq.lastId >= id),
      last, { timeout: 30000 });
    await page.waitForTimeout(2500);                 // the short poll's next round
    await page.evaluate(() => document.activeElement.blur());
    await page.mouse.move(640, 790);
    await page.screenshot({ path: out });
  } finally {
    await browser.close();
  }
}

if (process.argv.length !== 4) {
  process.stderr.write('usage: node screenshot.js URL OUT.png\n');
  process.exit(2);
}
main(process.argv[2], process.argv[3]).catch((e) => {
  process.stderr.write(`screenshot: ${e.message}\n`);
  process.exit(1);
});
