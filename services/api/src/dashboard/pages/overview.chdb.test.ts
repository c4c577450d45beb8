/**
 * The overview page on chDB: an hour of rows against the hour before, the figures shown
 * exact, the charts' data, the world map's shapes and shades, links to the log and to
 * clients, hostile paths, user agents and reasons shown as text, live mode, and a bad period
 * answered with a 400 page that says what is accepted.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { testAnalytics } from '../../../../../test/support/analytics.ts';
import { migrate, retentionForAll, type Analytics } from '@ipwatch/store';
import { createApiApp } from '../../apiServer.ts';

const XSS = '<script>alert(1)</script>';
const XSS2 = '"><img src=x onerror=alert(1)>';
const M = 60_000;
const H = 3_600_000;
const DAY = 86_400_000;
// An hour of its own, 190 days ago at 09:00 UTC (inside the rollup's 400 days, apart from other tests' rows); the page's clock is in its last minute.
const S = Math.floor(Date.now() / DAY) * DAY - 190 * DAY + 9 * H;
const U = S + H;
const P = S - H;
const NOW = U - 30_000;

const v4 = (ip: string) => `::ffff:${ip}`;
const FR = ['FR', 16276, 'OVH SAS'] as const;
const US = ['US', 15169, XSS2] as const;

async function seed(a: Analytics): Promise<void> {
  await migrate(a, { retention: retentionForAll(5000) });
  type Req = [ts: number, ip: string, path: string, status: number, geo: readonly [string, number, string], ua: string, flags?: 'blocked' | 'limited'];
  const rows: Req[] = [
    [P + 1 * M, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
    [P + 2 * M, v4('198.51.100.1'), '/', 500, FR, 'curl/8'],
    [S - 1, v4('203.0.113.9'), '/login', 404, US, 'Mozilla/5.0'],
    [S, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
    [S + 1 * M, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
    [S + 2 * M, v4('198.51.100.1'), '/.env', 403, FR, 'curl/8', 'blocked'],
    [S + 6 * M, v4('198.51.100.1'), '/login', 429, FR, 'curl/8', 'limited'],
    [S + 7 * M, v4('203.0.113.9'), '/login', 502, US, XSS2],
    [S + 30 * M, v4('203.0.113.9'), XSS, 404, US, XSS2],
    [U - M, '2001:db8:1:2::5', '/', 200, ['', 0, ''], ''],
    [U - 1, '2001:db8:1:2::5', '/', 500, ['', 0, ''], ''],
    [U, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
  ];
  const columns = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'blocked', 'rate_limited', 'country', 'asn', 'org', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
  await a.insertStreamRows({
    table: 'requests',
    columns,
    rows: rows.map(([ts, ip, path, status, geo, ua, flags], i) => [`ovp-${i}`, ts, ip, 'shop', 'GET', 'shop.example', path, status, 1, ua, flags === 'blocked', flags === 'limited', ...geo, 'overview-page', 0, i]),
    deduplicationToken: 'overview-page-requests',
  });
  await a.insertStreamRows({
    table: 'detections',
    columns: ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [['ovp-d1', S + 31 * M, v4('203.0.113.9'), '203.0.113.9', 'xss-probe', 'high', 'live', 1, 2, 1, S + 30 * M, S + 31 * M, { summary: XSS }, 'flag', null, 1, 'overview-page', 0, 0]],
    deduplicationToken: 'overview-page-detections',
  });
  await a.insertBlockEvents([{ ts: S + 40 * M, action: 'block', target: '192.0.2.61', reason: XSS, source: 'manual', severity: 'high', expires_at: null, actor: 'bob', note: '' }]);
}

let served: Promise<{ server: Server; base: string }> | undefined;
function serve() {
  served ??= (async () => {
    const analytics = await testAnalytics();
    await seed(analytics);
    const server = createApiApp({ analytics, token: null, now: () => NOW, dashboard: { access: { token: null }, warn: () => {} } }).listen(0, '127.0.0.1');
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

const cardOf = (page: string, label: string) => new RegExp(`<div class="label">${label.replace(/[()]/g, '\\$&')}</div><div class="value">(?:<a href="[^"]*">)?([^<]+)(?:</a>)?</div><span class="change[^"]*">([^<]*)</span>`).exec(page)?.slice(1);

test('an hour against the hour before: cards exact, charts with a bucket a minute, every value linked to the log', async () => {
  const { status, text } = await get('/?period=1h');
  assert.equal(status, 200);
  assert.deepEqual(cardOf(text, 'Requests'), ['8', '+167% vs 3 in the hour before']);
  assert.deepEqual(cardOf(text, 'Server errors (5xx)'), ['25.0%', '-8.3 pp vs 33.3% in the hour before']);
  assert.deepEqual(cardOf(text, 'Client errors (4xx)'), ['37.5%', '+4.2 pp vs 33.3% in the hour before']);
  assert.deepEqual(cardOf(text, 'Blocked'), ['1', 'none in the hour before']);
  assert.deepEqual(cardOf(text, 'Rate-limited'), ['1', 'none in the hour before']);
  assert.deepEqual(cardOf(text, 'Unique clients'), ['3', '+50% vs 2 in the hour before']);
  assert.deepEqual(cardOf(text, 'Detections'), ['1', 'none in the hour before']);
  assert.deepEqual(cardOf(text, 'Blocks made'), ['1', 'none in the hour before']);

  const charts = [...text.matchAll(/data-chart="([^"]+)"/g)].map((m) => JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as { x: number[]; series: { label: string; values: number[] }[] });
  assert.equal(charts.length, 2);
  assert.equal(charts[0]!.x.length, 60);
  assert.equal(charts[0]!.x[0], S / 1000);
  assert.deepEqual(charts[0]!.series.map((s) => [s.label, s.values.reduce((a, b) => a + b, 0)]), [['requests', 8], ['5xx', 2], ['4xx', 3]]);
  assert.deepEqual(charts[1]!.series.map((s) => [s.label, s.values.reduce((a, b) => a + b, 0)]), [['blocked', 1], ['rate-limited', 1]]);
  assert.match(text, /<li>requests: 8, most at <time/, 'without JavaScript the chart says its totals');

  // Top lists: clients to their page and to the log; paths, countries, networks, user agents to the log filtered (and excluded).
  assert.match(text, /<a class="addr" href="\/clients\/198\.51\.100\.1">198\.51\.100\.1<\/a> <a class="x" href="\/requests\?since=1h&amp;ip=198\.51\.100\.1">log<\/a>/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;path=%2Flogin">\/login<\/a> <a class="x" href="\/requests\?since=1h&amp;not_path=%2Flogin"/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;country=FR">FR<\/a>/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;asn=16276">AS16276<\/a> <a class="x"[^>]*>not<\/a> <span class="muted">OVH SAS<\/span>/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;ua=curl%2F8">curl\/8<\/a>/);
  assert.match(text, /<td class="num">4<\/td><td class="num"><span class="up">\+100%<\/span><\/td>/, 'counts with the change');
  assert.match(text, /<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="fill" width="100" height="10"><\/rect><\/svg>/);

  // The latest detections and blocks link to the client and the detections page.
  assert.match(text, /<a href="\/clients\/203\.0\.113\.9">203\.0\.113\.9<\/a><\/td><td><a href="\/detections\?rule=xss-probe&amp;since=1h">xss-probe<\/a>/);
  assert.match(text, /<a href="\/clients\/192\.0\.2\.61">192\.0\.2\.61<\/a>/);
  assert.match(text, /Made at <time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time>/);
  assert.doesNotMatch(text, /data-refresh/, 'not live unless asked');
});

test('the world map: every country a path, shaded by requests, titled, linked to the log by its alpha-2 code', async () => {
  const { text } = await get('/?period=1h');
  const map = /<svg class="map"[\s\S]*?<\/svg>/.exec(text)?.[0] ?? '';
  assert.ok((map.match(/<path class="country/g) ?? []).length >= 170, 'the 110m countries are drawn');
  assert.match(map, /<a href="\/requests\?since=1h&amp;country=FR"><path class="country l5" data-country="FR" d="M[^"]+"><title>France \(FR\): 4 requests<\/title>/);
  assert.match(map, /<path class="country l4" data-country="US" d="M[^"]+"><title>United States of America \(US\): 2 requests<\/title>/);
  assert.match(map, /<path class="country" data-country="DE" d="[^"]+"><title>Germany \(DE\): 0 requests<\/title>/);
  assert.equal((map.match(/class="country l\d"/g) ?? []).length, 2, 'only countries with requests are shaded');
});

test('hostile paths, user agents, org names and reasons are text, in content and attributes', async () => {
  const { text } = await get('/?period=1h');
  assert.ok(!text.includes(XSS), 'no raw <script>');
  assert.ok(!text.includes(XSS2), 'no raw attribute break-out');
  assert.ok(!text.includes('<img'), 'no element from data');
  assert.match(text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;ua=%22%3E%3Cimg\+src%3Dx\+onerror%3Dalert%281%29%3E">&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;<\/a>/);
  assert.match(text, /<a href="\/requests\?since=1h&amp;path=%3Cscript%3Ealert%281%29%3C%2Fscript%3E">&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/a>/, 'the path');
  assert.match(text, /<span class="muted">&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;<\/span>/, 'the org name');
  assert.match(text, /<td class="text">&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td>/, 'the block reason');
  assert.doesNotMatch(text, / style=| on[a-z]+="/, 'no inline style or handler (CSP)');
});

test('periods: 24 h by default with 15-minute buckets, 6 h, 7 d; live mode reloads every 15 s; the period selector keeps live', async () => {
  const day = await get('/');
  assert.equal(day.status, 200);
  assert.match(day.text, /The last 24 hours: /);
  assert.match(day.text, /<a class="period active" aria-current="true" href="\/">24h<\/a>/);
  const x = (page: string) => (JSON.parse(/data-chart="([^"]+)"/.exec(page)![1]!.replace(/&quot;/g, '"')) as { x: number[] }).x;
  assert.equal(x(day.text).length, 96);
  assert.deepEqual(cardOf(day.text, 'Requests'), ['11', 'none in the 24 h before']);
  assert.equal(x((await get('/?period=6h')).text).length, 72);
  const week = await get('/?period=7d');
  assert.equal(x(week.text).length, 168);
  assert.match(week.text, /compared with the week before/);

  const live = await get('/?period=6h&live=1');
  assert.match(live.text, /<body data-refresh="15">/);
  assert.match(live.text, /<b>Live<\/b>: reloads every 15 s · <a href="\/\?period=6h">stop<\/a>/);
  assert.match(live.text, /<a class="period" href="\/\?period=1h&amp;live=1">1h<\/a>/);
  assert.match((await get('/?period=6h')).text, /<a href="\/\?period=6h&amp;live=1">Live mode<\/a>/);
});

test('a bad period, live value, unknown or repeated parameter: a 400 page saying what is accepted, with the periods to pick', async () => {
  const bad = await get('/?period=2h');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /period &quot;2h&quot; is not one of 1h, 6h, 24h, 7d: pick one of those \(the default is 24h\)/);
  assert.match(bad.text, /<a class="period" href="\/\?period=1h">1h<\/a>/);
  const hostile = await get(`/?period=${encodeURIComponent(XSS)}`);
  assert.equal(hostile.status, 400);
  assert.ok(!hostile.text.includes(XSS));
  const live = await get('/?live=yes');
  assert.equal(live.status, 400);
  assert.match(live.text, /live &quot;yes&quot; must be 1 \(reload every 15 s\) or 0/);
  const unknown = await get('/?periods=1h');
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /does not take the parameter &quot;periods&quot; \(did you mean period\?\)/);
  assert.equal((await get('/?period=1h&period=6h')).status, 400);
});
