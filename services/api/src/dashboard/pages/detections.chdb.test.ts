/**
 * The detections and rate-limit refusals pages on chDB: filters applied exactly (rows
 * inserted, rows shown checked), keyset pages of detections without overlap or gap, evidence
 * and paths as text, and bad parameters answered with a 400 page that says what is accepted.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { testAnalytics } from '../../../../../test/support/analytics.ts';
import { createApiApp } from '../../apiServer.ts';

const XSS = '<script>alert(1)</script>';
const XSS2 = '"><img src=x onerror=alert(1)>';
const M = 60_000;
const H = 3_600_000;
const now = Date.now();

let served: Promise<{ server: Server; base: string }> | undefined;
function serve() {
  served ??= (async () => {
    const analytics = await testAnalytics();
    const server = createApiApp({ analytics, token: null, dashboard: { access: { token: null }, warn: () => {} } }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    server.unref();
    return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  })();
  return served;
}

async function get(path: string): Promise<{ status: number; text: string }> {
  const { base } = await serve();
  const res = await fetch(base + path);
  return { status: res.status, text: await res.text() };
}

interface Det { id: string; ms: number; ip: string; client?: string; rule: string; severity?: string; mode?: string; action?: string; evidence?: Record<string, string> }

async function insertDetections(tag: string, rows: Det[]): Promise<void> {
  const analytics = await testAnalytics();
  await analytics.insertStreamRows({
    table: 'detections',
    columns: ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    deduplicationToken: tag,
    rows: rows.map((d, i) => [d.id, d.ms, d.ip.includes(':') ? d.ip : `::ffff:${d.ip}`, d.client ?? d.ip, d.rule, d.severity ?? 'high', d.mode ?? 'live', 1, 12, 10, d.ms - 10 * M, d.ms,
      d.evidence ?? { summary: `${d.rule} by ${d.ip}` }, d.action ?? 'block', (d.action ?? 'block') === 'block' ? d.ms + H : null, 1, tag, 0, i]),
  });
}

/** The detections shown, by id as the "older" cursor and client links reveal: here, by client address. */
function clientsOf(page: string): string[] {
  return [...page.matchAll(/<td class="addr"><a href="\/clients\/([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
}

test('detections: rule, severity, mode, client (IP or CIDR) and time filters applied exactly', async () => {
  await insertDetections('det-filters', [
    { id: 'det-f-1', ms: now - 1 * M, ip: '198.18.20.1', rule: 'dt-stuffing', severity: 'critical' },
    { id: 'det-f-2', ms: now - 2 * M, ip: '198.18.20.2', rule: 'dt-scan', severity: 'low', mode: 'dry_run', action: 'flag' },
    { id: 'det-f-3', ms: now - 3 * M, ip: '198.18.20.3', rule: 'dt-stuffing', severity: 'high' },
    { id: 'det-f-4', ms: now - 4 * M, ip: '2001:db8:20::5', client: '2001:db8:20::/64', rule: 'dt-burst', severity: 'medium' },
    { id: 'det-f-5', ms: now - 30 * H, ip: '198.18.20.4', rule: 'dt-stuffing', severity: 'high' },
  ]);
  const shown = async (q: string) => {
    const page = await get(`/detections?${q}`);
    assert.equal(page.status, 200, page.text);
    return clientsOf(page.text);
  };
  assert.deepEqual(await shown('client=198.18.20.0/24'), ['198.18.20.1', '198.18.20.2', '198.18.20.3'], 'the last 24 h by default');
  assert.deepEqual(await shown('client=198.18.20.0/24&since=2d'), ['198.18.20.1', '198.18.20.2', '198.18.20.3', '198.18.20.4']);
  assert.deepEqual(await shown('client=198.18.20.0/24&rule=dt-stuffing'), ['198.18.20.1', '198.18.20.3']);
  assert.deepEqual(await shown('client=198.18.20.0/24&severity=critical'), ['198.18.20.1']);
  assert.deepEqual(await shown('client=198.18.20.0/24&mode=dry_run'), ['198.18.20.2']);
  assert.deepEqual(await shown('client=198.18.20.0/24&mode=live&since=2d&until=1h'), ['198.18.20.4']);
  assert.deepEqual(await shown('client=198.18.20.3'), ['198.18.20.3']);
  assert.deepEqual(await shown('client=2001:db8:20::/64'), ['2001:db8:20::/64'], 'an IPv6 client is its /64');
  assert.deepEqual(await shown('client=2001:db8:20::5'), ['2001:db8:20::/64'], 'an address inside it finds it');
  // An account rule's detection is found from any client that took part, named in its evidence.
  await insertDetections('det-account', [{ id: 'det-f-6', ms: now - 5 * M, ip: '198.18.22.9', rule: 'dt-account', action: 'alert', evidence: { account: 'frank', clients: '198.18.22.7\n2001:db8:22::/64\n198.18.22.9' } }]);
  assert.deepEqual(await shown('client=198.18.22.7'), ['198.18.22.9']);
  assert.deepEqual(await shown('client=2001:db8:22::/64'), ['198.18.22.9']);
  assert.deepEqual(await shown('client=198.18.22.8'), []);
  const page = await get('/detections?client=198.18.20.1');
  assert.ok(page.text.includes('href="/rules/dt-stuffing"'), 'the rule links to its page');
  assert.ok(page.text.includes('href="/clients/198.18.20.1"'), 'the client links to its page');
  assert.match(page.text, /<td class="text">dt-stuffing by 198\.18\.20\.1<\/td>/, 'the summary shown');
  assert.ok(page.text.includes('<select name="severity"><option value="">any</option>'), 'the form');
});

test('detections: keyset pages neither repeat nor skip detections of one millisecond', async () => {
  const rows: Det[] = [];
  for (let i = 0; i < 13; i++) rows.push({ id: `det-p-${String(i).padStart(2, '0')}`, ms: now - 10 * M - Math.floor(i / 5), ip: `198.18.21.${i + 1}`, rule: 'dt-pages' });
  await insertDetections('det-pages', rows);
  const seen: string[] = [];
  let path = '/detections?rule=dt-pages&limit=5';
  for (let pages = 0; pages < 5; pages++) {
    const page = await get(path);
    assert.equal(page.status, 200, page.text);
    seen.push(...clientsOf(page.text));
    const older = /<a rel="next" href="([^"]+)"/.exec(page.text);
    if (!older) break;
    path = older[1]!.replace(/&amp;/g, '&');
  }
  assert.equal(seen.length, 13, seen.join(' '));
  assert.equal(new Set(seen).size, 13);
});

test('detections: hostile evidence and summaries are text, in a collapsible definition list', async () => {
  await insertDetections('det-xss', [{ id: 'det-x-1', ms: now - 5 * M, ip: '198.18.22.1', rule: 'dt-xss', evidence: { summary: XSS, [XSS2]: XSS, paths: `/${XSS2}` } }]);
  const page = await get('/detections?rule=dt-xss');
  assert.equal(page.status, 200);
  assert.ok(!page.text.includes(XSS) && !page.text.includes(XSS2), 'nothing hostile unescaped');
  assert.match(page.text, /<details class="evidence"><summary>2 items<\/summary><dl>/);
  assert.ok(page.text.includes('<dt>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>'));
});

test('detections: bad parameters are a 400 page saying what is accepted', async () => {
  const cases: Array<[string, RegExp]> = [
    ['/detections?severity=urgent', /severity &quot;urgent&quot; is not a severity: give low, medium, high, critical/],
    ['/detections?mode=test', /mode &quot;test&quot; is not a mode: give live or dry_run/],
    ['/detections?client=nope', /client: /],
    ['/detections?rule=%3Cx%3E', /rule &quot;&lt;x&gt;&quot; is not a rule id/],
    ['/detections?since=later', /since &quot;later&quot; is not a time/],
    ['/detections?before=x', /is not a page cursor/],
    ['/detections?rules=a', /does not take the parameter &quot;rules&quot; \(did you mean rule\?\)/],
  ];
  for (const [path, message] of cases) {
    const page = await get(path);
    assert.equal(page.status, 400, path);
    assert.match(page.text, message, path);
  }
});

test('rate limits: ip (CIDR), rule and time filters, refusals per rule, hostile paths as text, 400s', async () => {
  const analytics = await testAnalytics();
  const v4 = (ip: string) => `::ffff:${ip}`;
  await analytics.insertStreamRows({
    table: 'rate_limit_events',
    columns: ['ts', 'ip', 'rule', 'limit_key', 'limit', 'window_ms', 'count', 'path', 'user_id', 'app', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    deduplicationToken: 'rl-page',
    rows: [
      [now - 1 * M, v4('198.18.30.1'), 'rl-login', 'ip:198.18.30.1', 5, 300_000, 7, '/login', XSS, 'shop', 'rl', 0, 1],
      [now - 2 * M, v4('198.18.30.1'), 'rl-login', 'ip:198.18.30.1', 5, 300_000, 3, '/login', null, 'shop', 'rl', 0, 2],
      [now - 3 * M, v4('198.18.30.2'), 'rl-api', 'ip:198.18.30.2', 100, 60_000, 40, `/api/${XSS2}`, null, 'shop', 'rl', 0, 3],
      [now - 30 * H, v4('198.18.30.3'), 'rl-api', 'ip:198.18.30.3', 100, 60_000, 1, '/api', null, 'shop', 'rl', 0, 4],
    ],
  });
  const page = await get('/rate-limits?ip=198.18.30.0/24');
  assert.equal(page.status, 200, page.text);
  assert.deepEqual(clientsOf(page.text), ['198.18.30.1', '198.18.30.1', '198.18.30.2']);
  assert.match(page.text, /<td><a href="[^"]*rule=rl-api">rl-api<\/a><\/td><td class="num">40<\/td><td class="num">1<\/td><td class="num">1<\/td>/, 'refusals per rule');
  assert.match(page.text, /<td><a href="[^"]*rule=rl-login">rl-login<\/a><\/td><td class="num">10<\/td><td class="num">2<\/td><td class="num">1<\/td>/);
  assert.match(page.text, /<td class="num">5 \/ 5 min<\/td>/, 'limit and window');
  assert.ok(!page.text.includes(XSS) && !page.text.includes(XSS2), 'nothing hostile unescaped');
  assert.deepEqual(clientsOf((await get('/rate-limits?ip=198.18.30.0/24&rule=rl-api')).text), ['198.18.30.2']);
  assert.deepEqual(clientsOf((await get('/rate-limits?ip=198.18.30.3')).text), [], 'older than 24 h: not by default');
  assert.deepEqual(clientsOf((await get('/rate-limits?ip=198.18.30.3&since=2d')).text), ['198.18.30.3']);
  assert.deepEqual(clientsOf((await get('/rate-limits?ip=198.18.30.0/24&limit=1')).text), ['198.18.30.1']);
  for (const [path, message] of [['/rate-limits?ip=1.2.3.4/33', /ip: /], ['/rate-limits?until=soon', /until &quot;soon&quot; is not a time/], ['/rate-limits?limit=0', /limit &quot;0&quot; must be a whole number from 1 to 1000/], ['/rate-limits?path=/x', /does not take the parameter &quot;path&quot;/]] as const) {
    const bad = await get(path);
    assert.equal(bad.status, 400, path);
    assert.match(bad.text, message, path);
  }
});
