/**
 * The request log and its CSV export on chDB: each filter and exclusion applied exactly
 * (rows inserted, the rows shown checked), CIDRs, keyset pages that neither repeat nor skip
 * rows sharing a millisecond, hostile text as text, formula-looking cells defused in CSV, and
 * bad parameters answered with a 400 page saying what is accepted.
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
const columns = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'user_id', 'blocked', 'rate_limited', 'country', 'asn', 'org', 'login', 'login_user', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;

interface Req { ip: string; ms: number; method?: string; path?: string; status?: number; ua?: string; userId?: string | null; loginUser?: string | null; blocked?: boolean; limited?: boolean; country?: string; asn?: number; org?: string }

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

async function insert(tag: string, rows: Req[]): Promise<void> {
  const analytics = await testAnalytics();
  await analytics.insertStreamRows({
    table: 'requests',
    columns,
    deduplicationToken: tag,
    rows: rows.map((r, i) => [`${tag}-${String(i).padStart(3, '0')}`, r.ms, `::ffff:${r.ip}`, 'shop', r.method ?? 'GET', 'shop.example', r.path ?? '/', r.status ?? 200, 1, r.ua ?? 'Mozilla/5.0',
      r.userId ?? null, r.blocked ?? false, r.limited ?? false, r.country ?? 'FR', r.asn ?? 16276, r.org ?? 'OVH SAS', r.loginUser ? 'failed' : 'none', r.loginUser ?? null, tag, 0, i]),
  });
}

async function get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const { base } = await serve();
  const res = await fetch(base + path);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** The client addresses of the rows shown, in order. */
function ipsOf(page: string): string[] {
  return [...page.matchAll(/<td class="addr"><a href="\/clients\/([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
}

const now = Date.now();
const M = 60_000;

test('each filter and exclusion is applied exactly; CIDRs cover their range', async () => {
  await insert('log-filters', [
    { ip: '192.0.2.1', ms: now - 1 * M, method: 'POST', path: '/login', status: 401, loginUser: 'alice' },
    { ip: '192.0.2.2', ms: now - 2 * M, path: '/wp-login.php', status: 404, ua: 'curl/8.5', country: 'DE', asn: 3320, org: 'Deutsche Telekom AG' },
    { ip: '192.0.2.3', ms: now - 3 * M, path: '/api/orders', status: 200, userId: 'alice' },
    { ip: '192.0.2.4', ms: now - 4 * M, path: '/.env', status: 403, blocked: true, ua: 'python-requests/2.31' },
    { ip: '192.0.2.5', ms: now - 5 * M, path: '/search', status: 429, limited: true },
    { ip: '192.0.2.130', ms: now - 6 * M, path: '/WP-LOGIN.php', status: 500, country: 'US', asn: 15169, org: 'Google LLC' },
    { ip: '192.0.2.6', ms: now - 30 * 3_600_000, path: '/old', status: 404 },
  ]);
  const shown = async (q: string) => {
    const page = await get(`/requests?ip=192.0.2.0/24&${q}`);
    assert.equal(page.status, 200, page.text);
    return ipsOf(page.text);
  };
  assert.deepEqual(await shown(''), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.130'], 'the last 24 h by default, newest first');
  assert.deepEqual(await shown('since=2d'), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.130', '192.0.2.6']);
  assert.deepEqual(await shown('status=4xx'), ['192.0.2.1', '192.0.2.2', '192.0.2.4', '192.0.2.5']);
  assert.deepEqual(await shown('status=404'), ['192.0.2.2']);
  assert.deepEqual(await shown('method=post'), ['192.0.2.1']);
  assert.deepEqual(await shown('path=wp-login'), ['192.0.2.2', '192.0.2.130'], 'path matches case-insensitively');
  assert.deepEqual(await shown('country=de'), ['192.0.2.2']);
  assert.deepEqual(await shown('asn=AS15169'), ['192.0.2.130']);
  assert.deepEqual(await shown('user=alice'), ['192.0.2.1', '192.0.2.3'], 'a login username or a user id');
  assert.deepEqual(await shown('ua=CURL'), ['192.0.2.2']);
  assert.deepEqual(await shown('blocked=true'), ['192.0.2.4']);
  assert.deepEqual(await shown('limited=true'), ['192.0.2.5']);
  assert.deepEqual(await shown('blocked=false&limited=false&status=4xx'), ['192.0.2.1', '192.0.2.2']);
  // Exclusions, each on its own; a NULL user is not dropped by not_user.
  assert.deepEqual(await shown('not_path=wp-login'), ['192.0.2.1', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  assert.deepEqual(await shown('not_status=4xx&not_country=US'), ['192.0.2.3']);
  assert.deepEqual(await shown('not_user=alice'), ['192.0.2.2', '192.0.2.4', '192.0.2.5', '192.0.2.130']);
  assert.deepEqual(await shown('not_ip=192.0.2.0/30'), ['192.0.2.4', '192.0.2.5', '192.0.2.130'], 'a CIDR excluded: .0 to .3');
  assert.deepEqual(await shown('not_ua=python&not_method=POST&not_asn=3320'), ['192.0.2.3', '192.0.2.5', '192.0.2.130']);
  assert.deepEqual(ipsOf((await get('/requests?ip=192.0.2.128/25')).text), ['192.0.2.130']);
  assert.deepEqual(ipsOf((await get('/requests?ip=192.0.2.130')).text), ['192.0.2.130']);
  // Chips say what is active and remove one filter each, keeping the rest.
  const page = await get('/requests?ip=192.0.2.0/24&not_status=4xx');
  assert.ok(page.text.includes('href="/requests?ip=192.0.2.0%2F24"'), 'removing not_status keeps ip');
  assert.ok(page.text.includes('href="/requests?not_status=4xx"'), 'removing ip keeps not_status');
  assert.ok(page.text.includes('<input type="hidden" name="not_status" value="4xx">'), 'the form keeps the exclusion');
  assert.match(page.text, /<b>2<\/b> requests match\./);
  assert.match(page.text, /<td class="addr">\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}<\/td>/, 'times to the millisecond, UTC');
});

test('keyset pages: older pages follow on without overlap or gap, also within one millisecond', async () => {
  const rows: Req[] = [];
  // 25 requests over 3 distinct milliseconds (9, 8, 8 sharing one each).
  for (let i = 0; i < 25; i++) rows.push({ ip: `198.18.7.${i + 1}`, ms: now - 20 * M - Math.floor(i / 9) * 1000 });
  await insert('log-pages', rows);
  const seen: string[] = [];
  let path = '/requests?ip=198.18.7.0/24&limit=10';
  for (let pages = 0; pages < 5; pages++) {
    const page = await get(path);
    assert.equal(page.status, 200, page.text);
    seen.push(...ipsOf(page.text));
    const older = /<a rel="next" href="([^"]+)"/.exec(page.text);
    if (!older) break;
    assert.match(older[1]!, /before=\d+%2Clog-pages-\d{3}/);
    path = older[1]!.replace(/&amp;/g, '&');
  }
  assert.equal(seen.length, 25, `every row once: ${seen.join(' ')}`);
  assert.equal(new Set(seen).size, 25, 'no row twice');
  const first = await get('/requests?ip=198.18.7.0/24&limit=10');
  assert.match(first.text, /Showing 10 requests; more match\. <a href="[^"]*count=1">Count them<\/a>/);
  const counted = await get('/requests?ip=198.18.7.0/24&limit=10&count=1');
  assert.match(counted.text, /<b>25<\/b> requests match \(counted\)/);
});

test('hostile paths, user agents, usernames and org names are text on the page', async () => {
  await insert('log-xss', [{ ip: '198.18.9.1', ms: now - 3 * M, path: `/${XSS}`, ua: XSS2, loginUser: XSS, org: XSS2 }]);
  const page = await get(`/requests?ip=198.18.9.1&path=${encodeURIComponent(XSS)}`);
  assert.equal(page.status, 200);
  assert.deepEqual(ipsOf(page.text), ['198.18.9.1']);
  assert.ok(!page.text.includes(XSS) && !page.text.includes(XSS2), 'nothing hostile unescaped');
  assert.ok(page.text.includes('/&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(page.text.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(page.text.includes('ua=%22%3E%3Cimg'), 'the filter link carries the value percent-encoded');
  assert.ok(page.text.includes('name="path" value="&lt;script&gt;alert(1)&lt;/script&gt;"'), 'the form shows the filter escaped');
});

test('CSV export: the same filter, every cell quoted, formula-looking cells defused, dated attachment', async () => {
  await insert('log-csv', [
    { ip: '198.18.10.1', ms: now - 2 * M, path: '/a,"b"\nc', ua: '=HYPERLINK("http://evil.example","x")', userId: '@SUM(A1)' },
    { ip: '198.18.10.2', ms: now - 3 * M, path: '-1+2', ua: '+cmd|/c calc', loginUser: '\tTAB', status: 404 },
    { ip: '198.18.10.3', ms: now - 4 * M, path: '/ok', ua: '\rCR' },
  ]);
  const csv = await get('/requests.csv?ip=198.18.10.0/24&not_path=ok');
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(csv.headers.get('content-disposition') ?? '', /^attachment; filename="ipwatch-requests-\d{4}-\d{2}-\d{2}T\d{4}Z\.csv"$/);
  const lines = csv.text.split('\r\n');
  assert.equal(lines[0], '"time_utc","ip","method","host","path","status","country","asn","org","user","user_agent","blocked","rate_limited"');
  assert.equal(lines.length, 4, 'header, 2 rows, the final CRLF');
  assert.match(lines[1]!, /^"\d{4}-\d{2}-\d{2}T[\d:.]+Z","198\.18\.10\.1","GET","shop\.example","\/a,""b""\nc","200","FR","16276","OVH SAS","'@SUM\(A1\)","'=HYPERLINK\(""http:\/\/evil\.example"",""x""\)","true"|"false"/);
  assert.ok(lines[2]!.includes('"\'-1+2"') && lines[2]!.includes('"\'+cmd|/c calc"') && lines[2]!.includes('"\'\tTAB"'), lines[2]);
  const page = await get('/requests?ip=198.18.10.0/24&not_path=ok&limit=50');
  assert.ok(page.text.includes('href="/requests.csv?ip=198.18.10.0%2F24&amp;not_path=ok"'), 'Export CSV keeps the filter');
  const cr = await get('/requests.csv?ip=198.18.10.3');
  assert.ok(cr.text.includes('"\'\rCR"'), 'a leading CR is defused');
});

test('bad parameters: a 400 page that says what is wrong and what is accepted, the form kept', async () => {
  const cases: Array<[string, RegExp]> = [
    ['/requests?status=teapot', /status &quot;teapot&quot; is not a status filter: use 404, 4xx/],
    ['/requests?ip=1.2.3.4/40', /ip: /],
    ['/requests?not_ip=nope', /not_ip: /],
    ['/requests?since=yesterday', /since &quot;yesterday&quot; is not a time: use a duration/],
    ['/requests?before=garbage', /before &quot;garbage&quot; is not a page cursor/],
    ['/requests?limit=5000', /limit &quot;5000&quot; must be a whole number from 1 to 1000/],
    ['/requests?blocked=maybe', /blocked &quot;maybe&quot; must be true or false/],
    ['/requests?asn=cloud', /asn &quot;cloud&quot; is not a network number/],
    ['/requests?ipp=1.2.3.4', /does not take the parameter &quot;ipp&quot; \(did you mean ip\?\)/],
    ['/requests?ip=1.2.3.4&ip=5.6.7.8', /ip is given 2 times: give it once/],
    ['/requests?since=1h&until=2h', /until is not after since/],
    ['/requests.csv?status=teapot', /is not a status filter/],
    ['/requests.csv?limit=10', /does not take the parameter &quot;limit&quot;/],
  ];
  for (const [path, message] of cases) {
    const page = await get(path);
    assert.equal(page.status, 400, path);
    assert.match(page.text, message, path);
  }
  const xss = await get(`/requests?country=${encodeURIComponent(XSS)}`);
  assert.equal(xss.status, 400);
  assert.ok(!xss.text.includes(XSS), 'the refused value is escaped in the message and the form');
  assert.ok(xss.text.includes('name="country" value="&lt;script&gt;'), 'the form keeps what was typed');
});
