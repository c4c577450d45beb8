/**
 * A client's page on chDB and the in-process event log: the analysis shown (hostile text as
 * text), block / unblock / allowlist / remove from it through the list changes, refused
 * changes and bad clients shown with their message, and a cross-site post refused.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { blockMessage, LIST_TOPICS } from '@ipwatch/core/decisions';
import { startManageApp, type ManageApp } from './manageTestApp.ts';

const XSS = '<script>alert(1)</script>';
const XSS2 = '"><img src=x onerror=alert(1)>';
const columns = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'country', 'region', 'city', 'asn', 'org', 'login', 'login_user', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;

async function insertRequests(app: ManageApp, ip: string, tag: string): Promise<void> {
  const now = Date.now();
  const row = (i: number, path: string, status: number, ua: string, login = 'none', user: string | null = null) => [`${tag}-${i}`, now - 60_000 * (i + 1), `::ffff:${ip}`, 'shop', 'GET', 'shop.example', path, status, 1, ua, 'FR', 'IDF', 'Paris', 16276, XSS2, login, user, tag, 0, i];
  await app.analytics.insertStreamRows({
    table: 'requests',
    columns,
    deduplicationToken: tag,
    rows: [row(0, `/${XSS}`, 404, XSS2), row(1, '/.env', 404, 'curl/8.5'), row(2, '/login', 401, 'Mozilla/5.0', 'failed', XSS), row(3, '/', 200, 'Mozilla/5.0')],
  });
}

test('the page shows the analysis with hostile paths, user agents, usernames and org names as text', async () => {
  const app = await startManageApp();
  const ip = '198.51.100.71';
  await insertRequests(app, ip, 'client-page-a');
  const page = await app.get(`/clients/${ip}`);
  assert.equal(page.status, 200);
  assert.match(page.text, /Not blocked, not allowlisted/);
  assert.ok(!page.text.includes(XSS) && !page.text.includes(XSS2), 'no hostile text unescaped');
  assert.ok(page.text.includes('/&lt;script&gt;alert(1)&lt;/script&gt;'), 'the path is shown as text');
  assert.ok(page.text.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'), 'the user agent is shown as text');
  assert.match(page.text, /class="chart" data-chart="\{&quot;x&quot;:\[/);
  assert.ok(page.text.includes(`href="/requests?ip=${ip}&amp;`), 'values link to the log filtered by the client');
  assert.ok(page.text.includes('not_path='), 'with a link that excludes a value');
  assert.match(page.text, /1 failed, 0 succeeded/);
});

test('block from the page: the lists view has it, the page says BLOCKED; unblock lifts it', async () => {
  const app = await startManageApp();
  const ip = '198.51.100.72';
  const blocked = await app.post(`/clients/${ip}/block`, { target: ip, reason: XSS, expires: '+7d', until: '', severity: 'high', hours: '24' });
  assert.equal(blocked.status, 303, blocked.text);
  assert.equal(blocked.location, `/clients/${ip}?hours=24&done=blocked`);
  const entry = app.view.get('blocks', ip);
  assert.equal(entry?.reason, XSS);
  assert.equal(entry && 'severity' in entry ? entry.severity : null, 'high');
  assert.equal(entry?.createdBy, 'local');
  const page = await app.get(blocked.location ?? '');
  assert.match(page.text, /<b>BLOCKED<\/b> until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by local/);
  assert.match(page.text, /Blocked: every app instance refuses it/);
  assert.ok(!page.text.includes(XSS) && page.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the reason is text');
  assert.match(page.text, /<td>block<\/td>/, 'the block history shows the block');

  const unblocked = await app.post(`/clients/${ip}/unblock`, { target: ip });
  assert.equal(unblocked.status, 303);
  assert.equal(app.view.get('blocks', ip), undefined);
  assert.match((await app.get(`/clients/${ip}?done=unblocked`)).text, /Not blocked, not allowlisted/);
});

test('allowlist from the page and remove it; a custom expiry is a UTC time', async () => {
  const app = await startManageApp();
  const ip = '198.51.100.73';
  const until = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 16);
  assert.equal((await app.post(`/clients/${ip}/allow`, { target: ip, reason: 'office', expires: '+1h', until })).status, 303);
  assert.equal(app.view.get('allow', ip)?.expiresAt, Date.parse(`${until}:00Z`));
  const page = await app.get(`/clients/${ip}`);
  assert.match(page.text, /<b>ALLOWLISTED<\/b>/);
  assert.match(page.text, /Remove 198\.51\.100\.73 from the allowlist/);
  assert.equal((await app.post(`/clients/${ip}/unallow`, { target: ip })).status, 303);
  assert.equal(app.view.get('allow', ip), undefined);
});

test('refused changes and bad clients are pages with the message, never a 500', async () => {
  const app = await startManageApp();
  const wide = await app.post('/clients/198.51.100.74/block', { target: '0.0.0.0/0', reason: '', expires: '+1h' });
  assert.equal(wide.status, 400);
  assert.match(wide.text, /flash error[^>]*>refused: 0\.0\.0\.0\/0 is a \/0, wider than the \/16/);
  assert.deepEqual(app.view.all('blocks'), []);
  const past = await app.post('/clients/198.51.100.74/block', { target: '198.51.100.74', expires: '+1h', until: '2001-01-01T00:00' });
  assert.equal(past.status, 400);
  assert.match(past.text, /is in the past/);
  const missing = await app.post('/clients/198.51.100.74/unblock', { target: '198.51.100.74' });
  assert.equal(missing.status, 404);
  assert.match(missing.text, /198\.51\.100\.74 is not blocked/);

  const bad = await app.get(`/clients/${encodeURIComponent(XSS)}`);
  assert.equal(bad.status, 400);
  assert.match(bad.text, /A client is one IP address/);
  assert.ok(!bad.text.includes(XSS));
  const range = await app.get(`/clients/${encodeURIComponent('198.51.100.0/24')}`);
  assert.equal(range.status, 400);
  assert.match(range.text, /other than an IPv6 \/64/);
  const hours = await app.get('/clients/198.51.100.74?hours=9999');
  assert.equal(hours.status, 400);
  assert.match(hours.text, /hours &quot;9999&quot; must be a whole number from 1 to 720/);
  assert.equal((await app.get('/clients/198.51.100.74?bogus=1')).status, 400);
});

test('an IPv6 /64 is a client: its page, and a block of the /64', async () => {
  const app = await startManageApp();
  const net = '2001:db8:7:1::/64';
  const page = await app.get(`/clients/${encodeURIComponent(net)}`);
  assert.equal(page.status, 200);
  assert.match(page.text, /<h1>2001:db8:7:1::\/64<\/h1>/);
  const blocked = await app.post(`/clients/${encodeURIComponent(net)}/block`, { target: net, reason: 'scan', expires: 'never' });
  assert.equal(blocked.status, 303, blocked.text);
  assert.equal(app.view.get('blocks', net)?.expiresAt, null);
  const address = await app.get(`/clients/${encodeURIComponent('2001:db8:7:1::99')}`);
  assert.match(address.text, /<b>BLOCKED<\/b> until it is unblocked/);
  assert.match(address.text, /<option value="2001:db8:7:1::99">2001:db8:7:1::99<\/option><option value="2001:db8:7:1::\/64">/, 'an address can be blocked alone or with its /64');
  assert.match(address.text, /<input type="hidden" name="target" value="2001:db8:7:1::\/64"><button type="submit" class="primary">Unblock 2001:db8:7:1::\/64<\/button>/, 'the range covering it can be lifted from its page');
});

test('a post from another site is refused', async () => {
  const app = await startManageApp();
  const res = await app.post('/clients/198.51.100.75/block', { target: '198.51.100.75' }, { 'sec-fetch-site': 'cross-site' });
  assert.equal(res.status, 403);
  assert.equal(app.view.get('blocks', '198.51.100.75'), undefined);
});

test('a rule\'s block: BLOCKED by the rule, with the detection behind it and its evidence, as text', async () => {
  const app = await startManageApp();
  const ip = '198.51.100.76';
  const now = Date.now();
  await app.analytics.insertStreamRows({
    table: 'detections',
    columns: ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [['client-page-d1', now - 60_000, `::ffff:${ip}`, ip, 'sensitive-files', 'high', 'live', 1, 2, 1, now - 600_000, now - 60_000, { paths: `/.env ${XSS}` }, 'block', now + 3_600_000, 1, 'client-page-d', 0, 0]],
    deduplicationToken: 'client-page-d',
  });
  await app.log.produce(LIST_TOPICS.blocks, [blockMessage({ target: ip, reason: 'sensitive files', source: 'sensitive-files', severity: 'high', createdAt: now - 60_000, expiresAt: now + 3_600_000, createdBy: 'scorer' })]);
  assert.ok(await app.view.waitFor('blocks', ip, (r) => r !== undefined, 5000));
  const page = await app.get(`/clients/${ip}`);
  assert.match(page.text, /<b>BLOCKED<\/b> until [^<]+ by rule sensitive-files/);
  assert.match(page.text, /<div class="verdict blocked">[\s\S]*<details><summary><a href="\/rules\/sensitive-files">sensitive-files<\/a>[\s\S]*paths: \/\.env &lt;script&gt;/);
  assert.ok(!page.text.includes(XSS));
});
