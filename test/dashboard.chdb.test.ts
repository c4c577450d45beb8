/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against the
 * real `ipwatch dev` (demo app with the emitter, the embedded pipeline, chDB, the api and its
 * dashboard), as an operator uses it: sign in, read the overview (charts and the map drawn),
 * filter the log to one client by clicking its address, open its page, block it and see the
 * demo app refuse its next request, edit a rule and see it applied, export CSV. An attacker's
 * stored XSS payloads (path, user agent, username) show as text and never run: the browser
 * records every dialog, script error and CSP violation, and there must be none. Screenshots
 * of every page go to test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, jest, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Page } from 'playwright-core';
import { startCli, tempDir } from './support/cli.ts';
import { startBrowser, type TestBrowser } from './support/browser.ts';

const ATTACKER = '203.0.113.66';
const XSS_PATH = '/search?q=<script>alert("path")</script>';
const XSS_UA = '<img src=x onerror=alert("ua")>';
const XSS_USER = '"><svg onload=alert("user")>';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function eventually<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not so within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the dashboard in Chromium, on ipwatch dev', () => {
  jest.setTimeout(180_000);
  const token = `ops:${randomBytes(24).toString('hex')}`;
  let api = '';
  let app = '';
  let dev: ReturnType<typeof startCli>;
  let browser: TestBrowser;
  let page: Page;

  /** A request to the demo app as `ip` (it trusts loopback as its proxy). */
  const visit = (path: string, ip: string, init: RequestInit = {}) =>
    fetch(`${app}${path}`, { ...init, headers: { 'x-forwarded-for': ip, 'user-agent': XSS_UA, ...(init.headers as Record<string, string>) } }).then((r) => r.status);
  const apiGet = (path: string) => fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const [apiPort, appPort] = [await freePort(), await freePort()];
    api = `http://127.0.0.1:${apiPort}`;
    app = `http://127.0.0.1:${appPort}`;
    // A slow simulator: the attacker's requests must stay on the log's first page while a loaded machine runs the steps.
    dev = startCli(['dev', '--simulate', '--rate', '2', '--port', String(appPort)], { IPWATCH_API_TOKEN: token, IPWATCH_API_PORT: String(apiPort), IPWATCH_METRICS_PORT: '0' }, tempDir('ipwatch-dashboard'));
    await eventually('the api', async () => (await apiGet('/api/status')).ok, 60_000);
    // The attacker's traffic: hostile path, user agent and username, stored like any request.
    for (let i = 0; i < 5; i++) await visit(`/products/${i}`, ATTACKER);
    await visit(XSS_PATH, ATTACKER);
    await visit('/login', ATTACKER, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${encodeURIComponent(XSS_USER)}&password=x` });
    await eventually('the attacker stored', async () => ((await (await apiGet(`/api/requests?ip=${ATTACKER}`)).json()) as { total: number }).total >= 7);
    browser = await startBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT');
      await new Promise((r) => dev.once('exit', r));
    }
  });

  test('without a session nothing is shown; a cross-site POST is refused; the API wants its token', async () => {
    const anon = await fetch(`${api}/`, { redirect: 'manual' });
    assert.equal(anon.status, 303);
    assert.match(anon.headers.get('location') ?? '', /^\/login\?next=/);
    assert.match(anon.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal((await fetch(`${api}/requests`, { redirect: 'manual' })).status, 303);
    assert.equal((await fetch(`${api}/api/requests`)).status, 401);
    const crossSite = await fetch(`${api}/blocks`, { method: 'POST', redirect: 'manual', headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, body: 'target=198.51.100.1' });
    assert.equal(crossSite.status, 403);
    const wrong = await fetch(`${api}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=not-the-token' });
    assert.equal(wrong.status, 401);
  });

  test('sign in; the overview draws its charts and the world map', async () => {
    await page.goto(`${api}/`);
    assert.match(page.url(), /\/login\?next=/);
    await browser.screenshot(page, '00-login');
    await page.fill('input[name="token"]', token);
    await Promise.all([page.waitForURL(`${api}/`), page.click('button[type="submit"]')]);
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'ipwatch_session');
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
    await page.waitForSelector('.chart canvas', { timeout: 10_000 });
    const countries = await page.locator('svg.map path').count();
    assert.ok(countries > 100, `the map has its countries (${countries})`);
    await browser.screenshot(page, '01-overview');
  });

  test('the log, filtered to one client by clicking its address; the payloads are text', async () => {
    await page.goto(`${api}/requests`);
    const link = page.locator(`a[href="/requests?ip=${ATTACKER}"]`).first();
    await link.waitFor({ timeout: 10_000 });
    await Promise.all([page.waitForURL(/\/requests\?ip=203\.0\.113\.66$/), link.click()]);
    const text = (await page.textContent('main')) ?? '';
    assert.ok(text.includes(XSS_PATH), 'the hostile path is shown as text');
    assert.ok(text.includes(XSS_UA), 'the hostile user agent is shown as text');
    await browser.screenshot(page, '02-requests-filtered');
    const csv = page.locator('a[href^="/requests.csv"]').first();
    const [download] = await Promise.all([page.waitForEvent('download'), csv.click()]);
    const body = await (await import('node:fs/promises')).readFile((await download.path())!, 'utf8');
    const lines = body.trim().split(/\r?\n/);
    assert.ok(lines.length >= 8, `a header and the client's rows (${lines.length} lines)`);
    assert.ok(lines.slice(1).every((l) => l.includes(ATTACKER)), 'only the filtered client');
  });

  test('the client page; block it there, and the demo app refuses its next request', async () => {
    await page.goto(`${api}/requests?ip=${ATTACKER}`);
    await Promise.all([page.waitForURL(/\/clients\//), page.locator(`a[href="/clients/${ATTACKER}"]`).first().click()]);
    await browser.screenshot(page, '03-client');
    const form = page.locator('form[action$="/block"]').first();
    await form.locator('input[name="reason"]').fill('seen in the dashboard test <b>bold</b>');
    await Promise.all([page.waitForLoadState('load'), form.locator('button[type="submit"]').click()]);
    assert.match((await page.textContent('main')) ?? '', /BLOCKED/);
    await browser.screenshot(page, '04-client-blocked');
    await eventually('the demo app refusing the blocked client', async () => (await visit('/', ATTACKER)) === 403, 10_000);
  });

  test('a rule edited on its page is applied', async () => {
    await page.goto(`${api}/rules/hourly-volume`);
    await browser.screenshot(page, '05-rule');
    const form = page.locator('form:has(input[name="threshold"])').first();
    await form.locator('input[name="threshold"]').fill('150');
    await Promise.all([page.waitForLoadState('load'), form.locator('button[type="submit"]').first().click()]);
    const rule = await eventually('the rule changed on the topic', async () => {
      const r = (await (await apiGet('/api/rules/hourly-volume')).json()) as { rule?: { threshold: number }; threshold?: number };
      const threshold = r.rule?.threshold ?? r.threshold;
      return threshold === 150 ? r : null;
    });
    assert.ok(rule);
  });

  test('every page renders, and nothing ran that should not have', async () => {
    for (const [name, path] of [['06-detections', '/detections'], ['07-blocks', '/blocks'], ['08-allowlist', '/allowlist'], ['09-rate-limits', '/rate-limits'], ['10-rules', '/rules'], ['11-overview-live', '/?live=1']] as const) {
      const res = await page.goto(`${api}${path}`);
      assert.equal(res?.status(), 200, path);
      await browser.screenshot(page, name);
    }
    assert.deepEqual(browser.incidents, []);
  });
});
