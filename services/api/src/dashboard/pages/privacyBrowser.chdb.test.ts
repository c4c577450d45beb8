/**
 * The privacy pages in a real browser (Debian's Chromium, driven by playwright-core) on chDB
 * and the real privacy service, as an operator answers a request: sign in, open the client's
 * page, download its export, erase it through the confirmation, read the report (a block in
 * force offered to be lifted), then the privacy page with the audit log and a refused range.
 * A hostile user id and user agent stay text: no dialog, script error or CSP violation.
 * Screenshots go to test-output/screenshots/privacy-*.png.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { PrivacyExport } from '@ipwatch/store';
import { startBrowser } from '../../../../../test/support/browser.ts';
import { afterThisTest } from '../../../../../test/support/afterThisTest.ts';
import { countRows, startPrivacyApp, storeClient, TOKEN } from './privacyTestApp.ts';

const XSS_USER = '"><svg onload=alert("user")>';
const XSS_UA = '<img src=x onerror=alert("ua")>';

test('export and erase a client from its page, then the privacy page, in Chromium', async () => {
  const app = await startPrivacyApp();
  const ip = '203.0.113.77';
  await storeClient(app.analytics, ip, 'privacy-browser-a', { count: 12, user: XSS_USER, userAgent: XSS_UA });
  await storeClient(app.analytics, '203.0.113.78', 'privacy-browser-b');
  // The same user id from another address: still stored after the address is erased.
  await storeClient(app.analytics, '203.0.113.79', 'privacy-browser-c', { user: XSS_USER });
  await app.changes.block({ target: ip, reason: `scanning ${XSS_UA}`, expires: '+24h', severity: 'high' }, { name: 'ops', mayUseRuleSources: false });
  assert.ok(await app.view.waitFor('blocks', ip, (r) => r !== undefined, 5000));

  const browser = await startBrowser();
  afterThisTest(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${app.base}/clients/${ip}`);
  assert.match(page.url(), /\/login\?next=%2Fclients%2F203\.0\.113\.77/);
  await page.fill('input[name="token"]', TOKEN);
  await Promise.all([page.waitForURL(`${app.base}/clients/${ip}`), page.click('button[type="submit"]')]);

  // The export: a download holding the rows ClickHouse has.
  const exportButton = page.getByRole('button', { name: `Export everything stored about ${ip}` });
  await exportButton.scrollIntoViewIfNeeded();
  await browser.screenshot(page, 'privacy-01-client');
  const [download] = await Promise.all([page.waitForEvent('download'), exportButton.click()]);
  const e = JSON.parse(await readFile((await download.path())!, 'utf8')) as PrivacyExport;
  assert.equal(e.tables.find((t) => t.table === 'requests')!.rows.length, (await countRows(app.analytics, ip)).requests);
  assert.equal(e.tables.find((t) => t.table === 'requests')!.rows.length, 12);

  // Erase: the confirmation, then the report.
  await Promise.all([page.waitForURL(`${app.base}/privacy/erase`), page.getByRole('button', { name: `Erase ${ip}…` }).click()]);
  assert.equal(await page.textContent('h1'), `Erase ${ip}?`);
  await browser.screenshot(page, 'privacy-02-confirm');
  await Promise.all([page.waitForURL(`${app.base}/privacy/erase/confirmed`), page.getByRole('button', { name: `Erase ${ip} now` }).click()]);
  assert.equal(await page.textContent('h1'), `Erased ${ip}`);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 0, detections: 0 });
  assert.deepEqual(await countRows(app.analytics, '203.0.113.78'), { requests: 5, detections: 1 });
  const remaining = (await page.textContent('table.remaining')) ?? '';
  assert.ok(remaining.includes(`scanning ${XSS_UA}`), 'the block\'s hostile reason as text');
  await browser.screenshot(page, 'privacy-03-erased');

  // The block in force is lifted from the report, through the blocks page's form.
  await Promise.all([page.waitForURL(/\/blocks\?done=unblocked$/), page.getByRole('button', { name: `Unblock ${ip}` }).click()]);
  assert.equal(app.view.get('blocks', ip), undefined);

  // The privacy page: a range too wide, refused on the form with what to do; the audit log.
  await page.goto(`${app.base}/privacy`);
  await page.fill('input[name="subject"]', '10.0.0.0/8');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Erase…' }).click()]);
  assert.match((await page.textContent('.flash.error')) ?? '', /wider than the \/24[\s\S]*tick "I mean it"/);
  assert.equal(await page.inputValue('input[name="subject"]'), '10.0.0.0/8');
  const audit = (await page.textContent('table.audit')) ?? '';
  assert.match(audit, /erase.*completed/);
  assert.ok(!audit.includes(ip), 'no address in the audit log');
  await browser.screenshot(page, 'privacy-04-page');

  // A hostile user id on the confirmation: text.
  await page.selectOption('select[name="kind"]', 'user');
  await page.fill('input[name="subject"]', XSS_USER);
  await Promise.all([page.waitForURL(`${app.base}/privacy/erase`), page.getByRole('button', { name: 'Erase…' }).click()]);
  assert.equal(await page.textContent('h1'), `Erase user ${XSS_USER}?`);
  assert.match((await page.textContent('table.counts')) ?? '', /requests.*5/);
  await browser.screenshot(page, 'privacy-05-confirm-user');
  assert.deepEqual(browser.incidents, []);
}, 180_000);
