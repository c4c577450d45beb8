/**
 * The rules pages on chDB and the in-process event log: an edit changes the rules state (the
 * topic the scorers follow) and the page shows it; switches and reset; bad values shown with
 * their message; hostile parameters as text; "would have caught" over stored requests.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { startManageApp, type ManageApp } from './manageTestApp.ts';

/** Asks for a what-if and reloads, as the page does, until the answer is there. */
async function whatIf(app: ManageApp, path: string): Promise<{ status: number; text: string; waited: boolean }> {
  let waited = false;
  for (let i = 0; i < 100; i++) {
    const page = await app.get(path);
    if (!page.text.includes('class="running"')) return { ...page, waited };
    assert.match(page.text, /<body data-refresh="3">/, 'the page reloads itself while the what-if runs');
    waited = true;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer for ${path} within 10 s`);
}

const XSS = '<script>alert(1)</script>';
const columns = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'country', 'region', 'city', 'asn', 'org', 'login', 'login_user', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;

/** `count` failed logins from `ip`, a few seconds apart, a quarter of an hour ago. */
async function failedLogins(app: ManageApp, ip: string, count: number, tag: string): Promise<void> {
  const start = Date.now() - 15 * 60_000;
  const rows = Array.from({ length: count }, (_, i) => [`${tag}-${i}`, start + i * 5000, `::ffff:${ip}`, 'shop', 'POST', 'shop.example', '/login', 401, 1, 'Mozilla/5.0', '', '', '', 0, '', 'failed', `user${i}`, tag, 0, i]);
  await app.analytics.insertStreamRows({ table: 'requests', columns, rows, deduplicationToken: tag });
}

test('the rules page lists the rules; an edit changes the rules state and the page shows it', async () => {
  const app = await startManageApp();
  const list = await app.get('/rules');
  assert.equal(list.status, 200);
  assert.match(list.text, /<a href="\/rules\/login-failures">login-failures<\/a><\/td><td>login_failures<\/td>/);

  const saved = await app.post('/rules/login-failures', { window: '15m', threshold: '4', severity: 'high', action: 'block', block_for: '2h', escalation: 'none', quiet: '0' });
  assert.equal(saved.status, 303, saved.text);
  assert.equal(saved.location, '/rules/login-failures?done=saved');
  const rule = app.rules.book.get('login-failures');
  assert.equal(rule?.threshold, 4);
  assert.equal(rule?.windowMs, 15 * 60_000);
  assert.equal(rule?.blockForMs, 2 * 3_600_000);
  assert.deepEqual(rule?.escalation, []);
  assert.equal(rule?.updatedBy, 'local');
  assert.equal(app.rules.book.origin('login-failures'), 'changed');

  const page = await app.get(saved.location ?? '');
  assert.match(page.text, /Rule saved: every scorer applies it/);
  assert.match(page.text, /name="threshold" value="4"/);
  assert.match(page.text, /name="window" value="15m"/);
  assert.match(page.text, /block 2h/);
  assert.match(page.text, /last changed by local/);
  assert.match((await app.get('/rules')).text, /login-failures<\/a>[\s\S]*?<td class="num">15m<\/td><td class="num">4<\/td>/);

  assert.equal((await app.post('/rules/login-failures', { threshold: '4' })).location, '/rules/login-failures?done=unchanged');
});

test('switches and reset go through the rules topic', async () => {
  const app = await startManageApp();
  const off = await app.post('/rules/burst/disable', { back: 'list' });
  assert.equal(off.location, '/rules?done=disabled');
  assert.equal(app.rules.book.get('burst')?.enabled, false);
  assert.equal((await app.post('/rules/burst/dry-run', {})).location, '/rules/burst?done=dry-run');
  assert.equal(app.rules.book.get('burst')?.mode, 'dry_run');
  assert.match((await app.get('/rules/burst')).text, /disabled, dry run: dry run \(records; would block 10m, then 1h, then 1d\)/);
  assert.equal((await app.post('/rules/burst/reset', {})).location, '/rules/burst?done=reset');
  assert.equal(app.rules.book.get('burst')?.enabled, true);
  assert.equal(app.rules.book.origin('burst'), 'default');
});

test('bad values are shown with their message (400) and change nothing; hostile parameters stay text', async () => {
  const app = await startManageApp();
  const bad = await app.post('/rules/burst', { threshold: 'lots' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /threshold &quot;lots&quot; must be a number/);
  assert.match(bad.text, /name="threshold" value="lots"/, 'the form keeps what was typed');
  const window = await app.post('/rules/burst', { window: '8d' });
  assert.equal(window.status, 400);
  assert.match(window.text, /the window must be from 1s to 7d/);
  assert.equal(app.rules.book.get('burst')?.threshold, 50);
  assert.equal(app.rules.book.origin('burst'), 'default');

  const ignore = `/ok,/${XSS}`;
  assert.equal((await app.post('/rules/sensitive-paths', { 'param.ignorePaths': ignore })).status, 303);
  assert.equal(app.rules.book.get('sensitive-paths')?.params.ignorePaths, ignore);
  const page = await app.get('/rules/sensitive-paths');
  assert.ok(!page.text.includes(XSS));
  assert.ok(page.text.includes('value="/ok,/&lt;script&gt;alert(1)&lt;/script&gt;"'));

  const missing = await app.get(`/rules/${encodeURIComponent(XSS)}`);
  assert.equal(missing.status, 404);
  assert.ok(!missing.text.includes(XSS));
  assert.equal((await app.get('/rules/burst?threshold=1&bogus=2')).status, 400);
  assert.equal((await app.get('/rules?x=1')).status, 400);
});

test('would have caught: the rule as edited over the last day of stored requests', async () => {
  const app = await startManageApp();
  await failedLogins(app, '198.51.100.91', 6, 'whatif-many');
  await failedLogins(app, '198.51.100.92', 3, 'whatif-few');
  const asSaved = await whatIf(app, '/rules/login-failures?whatif=1');
  assert.equal(asSaved.status, 200);
  assert.ok(asSaved.waited, 'the first answer is a page saying it runs');
  assert.match(asSaved.text, /<h2>Would have caught<\/h2>/);
  assert.ok(!asSaved.text.includes('>198.51.100.91<'), 'the saved threshold (10) catches neither');

  const edited = await whatIf(app, '/rules/login-failures?whatif=1&threshold=4&window=10m');
  assert.match(edited.text, /the rule as edited \(not saved\) would have caught <b>\d+<\/b> client\(s\)/);
  assert.match(edited.text, /<a class="addr" href="\/clients\/198\.51\.100\.91">198\.51\.100\.91<\/a><\/td><td class="num">\d+<\/td>/);
  assert.ok(!edited.text.includes('>198.51.100.92<'), 'three failures are not more than four');
  assert.match(edited.text, /name="threshold" value="4"/, 'the form keeps the edit, ready to save');
  assert.equal(app.rules.book.get('login-failures')?.threshold, 10, 'nothing was saved');
  const bad = await app.get('/rules/login-failures?whatif=1&threshold=-1');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /threshold &quot;-1&quot; must be a number/);
});
