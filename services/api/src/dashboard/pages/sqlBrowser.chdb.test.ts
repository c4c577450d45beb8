/**
 * The SQL page in a real browser (Debian's Chromium, driven by playwright-core) on chDB and the
 * real SQL service, as an analyst uses it: sign in, pick a cookbook entry (a client's requests
 * per minute), run it, read the table and the chart (a canvas uPlot drew from the page's data
 * attribute under the CSP); then a query whose result holds hostile paths and user agents
 * (text, no dialog), and an INSERT refused on the form with the query kept. No dialog, script
 * error or CSP violation. Screenshots go to test-output/screenshots/sql-*.png.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { COOKBOOK } from '@ipwatch/store';
import { startBrowser } from '../../../../../test/support/browser.ts';
import { afterThisTest } from '../../../../../test/support/afterThisTest.ts';
import { countRows, startSqlApp, storeRequests, TOKEN } from './sqlTestApp.ts';

const XSS_PATH = '/search?q=<img src=x onerror=alert("path")>';
const XSS_UA = '<script>alert("ua")</script> sqlmap/1.7';

test('a cookbook time series run in Chromium: the table and the chart; hostile text stays text; a write refused on the form', async () => {
  const app = await startSqlApp();
  // The cookbook's client: 3 requests a minute over the last 10 minutes, 2 over the 10 before, 1 over the 20 before that.
  const client = '46.105.14.53';
  const paths = (n: number, tag: string) => Array.from({ length: n }, (_, i) => (i === n - 2 ? XSS_PATH : `/${tag}/${i}`));
  // All on whole minutes, so the three batches fall in the same 40 minutes.
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  await storeRequests(app.analytics, client, 'sql-browser-a', paths(40, 'a'), XSS_UA, minute);
  await storeRequests(app.analytics, client, 'sql-browser-b', paths(20, 'b'), undefined, minute);
  await storeRequests(app.analytics, client, 'sql-browser-c', paths(10, 'c'), undefined, minute);

  const browser = await startBrowser();
  afterThisTest(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${app.base}/sql`);
  assert.match(page.url(), /\/login\?next=%2Fsql$/);
  await page.fill('input[name="token"]', TOKEN);
  await Promise.all([page.waitForURL(`${app.base}/sql`), page.click('button[type="submit"]')]);

  // Pick the cookbook entry: the form is filled with it.
  const entry = COOKBOOK.find((e) => e.id === 'client-per-minute')!;
  await Promise.all([page.waitForURL(`${app.base}/sql?example=${entry.id}`), page.getByRole('link', { name: entry.title }).click()]);
  assert.equal(await page.inputValue('textarea[name="sql"]'), entry.sql);
  await browser.screenshot(page, 'sql-01-cookbook');

  // Run it: the table, the stats, the chart.
  await Promise.all([page.waitForURL(`${app.base}/sql`), page.getByRole('button', { name: 'Run' }).click()]);
  assert.equal(await page.inputValue('textarea[name="sql"]'), entry.sql, 'the query stays in the form');
  assert.match((await page.textContent('.sql-stats')) ?? '', /^40 rows, read [\d,]+ rows? \([\d,]+ bytes\) in [\d,]+ ms · audit entry [0-9a-f-]{36}$/);
  const header = await page.$$eval('table.sql-rows thead th', (ths) => ths.map((th) => th.textContent));
  assert.deepEqual(header, ["minuteDateTime('UTC')", 'requestsUInt64', 'errorsUInt64']);
  const rows = await page.$$eval('table.sql-rows tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.equal(rows.length, 40);
  assert.deepEqual(rows.map((r) => Number(r[1])).reduce((a, b) => a + b, 0), 70, 'every request counted');
  assert.deepEqual(rows.slice(-10).map((r) => r[1]), Array(10).fill('3'));
  assert.equal(await page.$eval('table.sql-rows tbody td:nth-child(2)', (td) => getComputedStyle(td).textAlign), 'right', 'numbers right-aligned');
  await page.waitForSelector('.sql-chart .chart canvas');
  const drawn = await page.$eval('.sql-chart .chart canvas', (c) => {
    const canvas = c as HTMLCanvasElement;
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
    return { width: canvas.width, height: canvas.height, painted };
  });
  assert.ok(drawn.width > 300 && drawn.height > 100, `a chart of a size: ${JSON.stringify(drawn)}`);
  assert.ok(drawn.painted > 500, `lines drawn on the canvas: ${JSON.stringify(drawn)}`);
  const legend = await page.$$eval('.sql-chart .u-legend .u-series .u-label', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(legend.slice(1), ['requests', 'errors'], 'one line per numeric column');
  await browser.screenshot(page, 'sql-02-time-series');

  // Under a result the cookbook is folded: open it, pick the rollup's traffic, run it.
  const rollup = COOKBOOK.find((e) => e.id === 'traffic-per-minute')!;
  assert.equal(await page.isVisible(`text=${rollup.title}`), false, 'folded under the result');
  await page.click('aside.cookbook summary');
  await Promise.all([page.waitForURL(`${app.base}/sql?example=${rollup.id}`), page.getByRole('link', { name: rollup.title }).click()]);
  await Promise.all([page.waitForURL(`${app.base}/sql`), page.getByRole('button', { name: 'Run' }).click()]);
  const perMinute = await page.$$eval('table.sql-rows tbody tr', (trs) => trs.map((tr) => Number(tr.querySelectorAll('td')[1]!.textContent)));
  assert.equal(perMinute.reduce((a, b) => a + b, 0), 70, 'the rollup counts the same requests');
  await page.waitForSelector('.sql-chart .chart canvas');
  const rollupLegend = await page.$$eval('.sql-chart .u-legend .u-series .u-label', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(rollupLegend.slice(1), ['requests', 'errors', 'clients']);
  await browser.screenshot(page, 'sql-02b-rollup');

  // Hostile paths and user agents in a result: text in the cells.
  const hostile = `SELECT path, user_agent, status, ts FROM requests WHERE ip = toIPv6('${client}') AND path LIKE '/search%' ORDER BY ts`;
  await page.fill('textarea[name="sql"]', hostile);
  await Promise.all([page.waitForURL(`${app.base}/sql`), page.getByRole('button', { name: 'Run' }).click()]);
  const cells = await page.$$eval('table.sql-rows tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.equal(cells.length, 3);
  assert.ok(cells.every((r) => r[0] === XSS_PATH), 'the path as text');
  assert.ok(cells.some((r) => r[1] === XSS_UA), 'the user agent as text');
  assert.equal(await page.$('table.sql-rows img, table.sql-rows script'), null, 'no element made of the text');
  assert.equal(await page.$('.sql-chart'), null, 'the first column not a time: no chart');
  await browser.screenshot(page, 'sql-03-hostile');

  // A write: refused on the form, the query kept, nothing written.
  const before = await countRows(app.analytics, 'block_events');
  const insert = "INSERT INTO block_events (ts, target, action, source) VALUES (now(), '46.105.14.53', 'block', 'manual')";
  await page.fill('textarea[name="sql"]', insert);
  await Promise.all([page.waitForURL(`${app.base}/sql`), page.getByRole('button', { name: 'Run' }).click()]);
  assert.match((await page.textContent('form.sql-form .flash.error')) ?? '', /^refused: ipwatch sql runs queries read-only/);
  assert.equal(await page.inputValue('textarea[name="sql"]'), insert);
  assert.equal(await countRows(app.analytics, 'block_events'), before);
  await browser.screenshot(page, 'sql-04-refused');
  assert.deepEqual(browser.incidents, []);
}, 180_000);
