/**
 * The overview on real chDB: an hour against the hour before, counted exactly (the edges to
 * the millisecond; the series and countries from the per-minute rollup agree with the
 * requests table), top lists with the previous hour's counts from the hourly sketches (whole
 * hours merged, partial ones sketched from requests: checked against counts made here), the
 * latest detections and blocks, and bad ranges and buckets refused.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { migrate, retentionForAll, FilterError, type Analytics } from '../index.ts';

const H = 3_600_000;
const M = 60_000;
const DAY = 86_400_000;
// An hour of its own, 200 days ago at 07:00 UTC: inside the rollup's 400-day TTL, away from the rows of other tests.
const S = Math.floor(Date.now() / DAY) * DAY - 200 * DAY + 7 * H;
const U = S + H;
const P = S - H;

let ready: Promise<Analytics> | undefined;
const analytics = () => (ready ??= testAnalytics().then(async (a) => (await migrate(a, { retention: retentionForAll(5000) }), a)));

const REQUEST_COLUMNS = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'blocked', 'rate_limited', 'country', 'asn', 'org', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
const FR = ['FR', 16276, 'OVH SAS'] as const;
const US = ['US', 15169, 'Google LLC'] as const;
const NONE = ['', 0, ''] as const;
const v4 = (ip: string) => `::ffff:${ip}`;
type Req = [ts: number, ip: string, path: string, status: number, geo: readonly [string, number, string], ua: string, flags?: 'blocked' | 'limited'];

const ROWS: Req[] = [
      // Before the previous hour: not counted.
      [P - 1, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
      // The previous hour: 3 requests, 2 clients.
      [P, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
      [P + 30 * M, v4('198.51.100.1'), '/', 500, FR, 'curl/8'],
      [S - 1, v4('203.0.113.9'), '/login', 404, US, 'Mozilla/5.0'],
      // The hour: 8 requests, 3 clients (one IPv6).
      [S, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
      [S + 1 * M, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
      [S + 2 * M, v4('198.51.100.1'), '/.env', 403, FR, 'curl/8', 'blocked'],
      [S + 6 * M, v4('198.51.100.1'), '/login', 429, FR, 'curl/8', 'limited'],
      [S + 7 * M, v4('203.0.113.9'), '/login', 502, US, 'Mozilla/5.0'],
      [S + 30 * M, v4('203.0.113.9'), '/<script>alert(1)</script>', 404, US, '"><img src=x onerror=alert(1)>'],
      [U - M, '2001:db8:1:2::5', '/', 200, NONE, ''],
      [U - 1, '2001:db8:1:2::5', '/', 500, NONE, ''],
      // The next hour: not counted.
      [U, v4('198.51.100.1'), '/', 200, FR, 'curl/8'],
    ];

let seeded: Promise<void> | undefined;
function seed(a: Analytics): Promise<void> {
  seeded ??= (async () => {
    await a.insertStreamRows({
      table: 'requests',
      columns: REQUEST_COLUMNS,
      rows: ROWS.map(([ts, ip, path, status, geo, ua, flags], i) => [`ov-${i}`, ts, ip, 'shop', 'GET', 'shop.example', path, status, 1, ua, flags === 'blocked', flags === 'limited', ...geo, 'overview', 0, i]),
      deduplicationToken: 'overview-requests',
    });
    const columns = ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
    const detection = (id: string, ts: number, ip: string, rule: string, action: string, i: number) =>
      [id, ts, v4(ip), ip, rule, 'high', 'live', 1, 2, 1, ts - M, ts, { summary: `${rule} ${ip}` }, action, action === 'block' ? ts + H : null, 1, 'overview', 0, i];
    await a.insertStreamRows({
      table: 'detections',
      columns,
      rows: [
        detection('ov-p1', P + 10 * M, '198.51.100.1', 'burst', 'flag', 0),
        detection('ov-d1', S + 3 * M, '198.51.100.1', 'sensitive-files', 'block', 1),
        detection('ov-d2', S + 31 * M, '203.0.113.9', 'xss-probe', 'flag', 2),
      ],
      deduplicationToken: 'overview-detections',
    });
    await a.insertBlockEvents([
      { ts: P + 5 * M, action: 'block', target: '192.0.2.50', reason: 'before', source: 'manual', severity: 'high', expires_at: null, actor: 'alice', note: '' },
      { ts: S + 40 * M, action: 'block', target: '192.0.2.51', reason: '<b>bad</b>', source: 'manual', severity: 'high', expires_at: null, actor: 'bob', note: '' },
      { ts: S + 41 * M, action: 'unblock', target: '192.0.2.51', reason: '', source: 'manual', severity: '', expires_at: null, actor: 'bob', note: '' },
      // A row as migration 0006's view wrote for a flag (ov-d2 did not block): not a block made.
      { ts: S + 31 * M, action: 'block', target: '203.0.113.9', reason: 'xss-probe', source: 'xss-probe', severity: 'high', expires_at: null, actor: 'scorer', note: 'detection ov-d2' },
    ]);
  })();
  return seeded;
}

test('an hour against the hour before: cards, series from the rollup, countries, exact to the millisecond', async () => {
  const a = await analytics();
  await seed(a);
  const o = await a.overview({ sinceMs: S, untilMs: U, bucketMs: 5 * M });
  assert.deepEqual(o.range, { sinceMs: S, untilMs: U });
  assert.deepEqual(o.previousRange, { sinceMs: P, untilMs: S });
  const t = o.totals;
  assert.deepEqual(t.requests, { value: 8, previous: 3, change: 5 / 3 });
  assert.deepEqual(t.uniqueClients, { value: 3, previous: 2, change: 0.5 });
  assert.deepEqual(t.serverErrors, { value: 2, previous: 1, change: 1 });
  assert.deepEqual(t.serverErrorRate, { value: 0.25, previous: 1 / 3, change: (0.25 - 1 / 3) / (1 / 3) });
  assert.deepEqual(t.clientErrors, { value: 3, previous: 1, change: 2 });
  assert.deepEqual(t.blocked, { value: 1, previous: 0, change: null });
  assert.deepEqual(t.rateLimited, { value: 1, previous: 0, change: null });
  // The rule block writes a block_events row (the store's view); the manual one is the second; unblocks and 0006's flag rows are not blocks made.
  assert.deepEqual(t.detections, { value: 2, previous: 1, change: 1 });
  assert.deepEqual(t.blocksMade, { value: 2, previous: 1, change: 1 });

  assert.equal(o.series.length, 12);
  assert.deepEqual(o.series[0], { start: S, requests: 3, serverErrors: 0, clientErrors: 1, blocked: 1, rateLimited: 0 });
  assert.deepEqual(o.series[1], { start: S + 5 * M, requests: 2, serverErrors: 1, clientErrors: 1, blocked: 0, rateLimited: 1 });
  assert.deepEqual(o.series[6], { start: S + 30 * M, requests: 1, serverErrors: 0, clientErrors: 1, blocked: 0, rateLimited: 0 });
  assert.deepEqual(o.series[11], { start: S + 55 * M, requests: 2, serverErrors: 1, clientErrors: 0, blocked: 0, rateLimited: 0 });
  assert.equal(o.series.reduce((s, b) => s + b.requests, 0), t.requests.value, 'the rollup counts what the cards count');
  assert.equal(o.series.reduce((s, b) => s + b.rateLimited, 0), t.rateLimited.value);

  assert.deepEqual(o.countries, [
    { country: 'FR', requests: 4, previous: 2, change: 1 },
    // Two countries have 2: the one with more the hour before first.
    { country: 'US', requests: 2, previous: 1, change: 1 },
    { country: '', requests: 2, previous: 0, change: null },
  ]);
});

test('top lists with the previous hour, latest detections and blocks, and a bucket not on the range', async () => {
  const a = await analytics();
  await seed(a);
  const o = await a.overview({ sinceMs: S, untilMs: U, bucketMs: 15 * M, top: 2 });
  // From the hourly sketches (exact here: far fewer keys than their 1,000 slots, error 0); ties by the stored text.
  assert.deepEqual(o.topClients, [
    { ip: '198.51.100.1', requests: 4, previous: 2, change: 1, error: 0, country: 'FR', asn: 16276, org: 'OVH SAS' },
    { ip: '2001:db8:1:2::5', requests: 2, previous: 0, change: null, error: 0, country: '', asn: 0, org: '' },
  ]);
  const all = await a.overview({ sinceMs: S, untilMs: U, bucketMs: 15 * M });
  assert.deepEqual(all.topClients.map((c) => [c.ip, c.requests, c.previous, c.country, c.org]), [['198.51.100.1', 4, 2, 'FR', 'OVH SAS'], ['2001:db8:1:2::5', 2, 0, '', ''], ['203.0.113.9', 2, 1, 'US', 'Google LLC']]);
  assert.deepEqual(all.topPaths, [
    { path: '/', requests: 4, previous: 2, change: 1, error: 0 },
    { path: '/login', requests: 2, previous: 1, change: 1, error: 0 },
    { path: '/.env', requests: 1, previous: 0, change: null, error: 0 },
    { path: '/<script>alert(1)</script>', requests: 1, previous: 0, change: null, error: 0 },
  ]);
  assert.deepEqual(all.topAsns, [
    { asn: 16276, org: 'OVH SAS', requests: 4, previous: 2, change: 1, error: 0 },
    { asn: 0, org: '', requests: 2, previous: 0, change: null, error: 0 },
    { asn: 15169, org: 'Google LLC', requests: 2, previous: 1, change: 1, error: 0 },
  ]);
  assert.deepEqual(all.topUserAgents, [
    { userAgent: 'curl/8', requests: 4, previous: 2, change: 1, error: 0 },
    { userAgent: '', requests: 2, previous: 0, change: null, error: 0 },
    { userAgent: '"><img src=x onerror=alert(1)>', requests: 1, previous: 0, change: null, error: 0 },
    { userAgent: 'Mozilla/5.0', requests: 1, previous: 1, change: 0, error: 0 },
  ]);
  assert.deepEqual(all.latestDetections.map((d) => [d.id, d.ts, d.ip, d.rule, d.action]), [['ov-d2', S + 31 * M, '203.0.113.9', 'xss-probe', 'flag'], ['ov-d1', S + 3 * M, '198.51.100.1', 'sensitive-files', 'block']]);
  assert.deepEqual(all.latestBlocks, [
    { ts: S + 40 * M, target: '192.0.2.51', reason: '<b>bad</b>', source: 'manual', severity: 'high', expiresAt: null, actor: 'bob' },
    { ts: S + 3 * M, target: '198.51.100.1', reason: all.latestBlocks[1]!.reason, source: 'sensitive-files', severity: 'high', expiresAt: S + 3 * M + H, actor: all.latestBlocks[1]!.actor },
  ]);
  // A range not on the bucket: the first bucket starts before it and is whole (the chart has no half-empty first point); the cards count the range only.
  const off = await a.overview({ sinceMs: S + 20 * M, untilMs: U + 20 * M, bucketMs: H });
  assert.deepEqual(off.series.map((b) => [b.start, b.requests]), [[S, 8], [U, 1]]);
  assert.deepEqual(off.totals.requests, { value: 4, previous: 7, change: (4 - 7) / 7 });
  // Two hours not on the hour: the whole hour [S, U) from the sketches, the partial hours around it (and the previous range's) from requests.
  const since = S - 40 * M;
  const until = U + 20 * M;
  const mixed = await a.overview({ sinceMs: since, untilMs: until, bucketMs: H });
  const countIn = (from: number, to: number, key: (r: Req) => string) => {
    const n = new Map<string, number>();
    for (const r of ROWS) if (r[0] >= from && r[0] < to) n.set(key(r), (n.get(key(r)) ?? 0) + 1);
    return n;
  };
  const ipOf = (r: Req) => r[1].replace('::ffff:', '');
  const cur = countIn(since, until, ipOf);
  const before = countIn(since - (until - since), since, ipOf);
  assert.deepEqual(mixed.topClients.map((c) => [c.ip, c.requests, c.previous, c.error]), [...cur].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : 1)).map(([ip, n]) => [ip, n, before.get(ip) ?? 0, 0]));
  assert.deepEqual(mixed.topClients.map((c) => c.ip), ['198.51.100.1', '203.0.113.9', '2001:db8:1:2::5']);
  // Geolocation from the range's last hour, [U - 40 min, U + 20 min), first: 203.0.113.9 is not there (found in the whole range), the IPv6 client has none.
  assert.deepEqual(mixed.topClients.map((c) => [c.country, c.org]), [['FR', 'OVH SAS'], ['US', 'Google LLC'], ['', '']]);
  assert.deepEqual(mixed.totals.uniqueClients, { value: cur.size, previous: before.size, change: (cur.size - before.size) / before.size });
  assert.deepEqual(mixed.topPaths.map((p) => [p.path, p.requests, p.previous]), [['/', 6, 2], ['/login', 3, 0], ['/.env', 1, 0], ['/<script>alert(1)</script>', 1, 0]]);
  const latest = await a.overview({ sinceMs: S, untilMs: U, bucketMs: H, latest: 1 });
  assert.deepEqual(latest.latestDetections.map((d) => d.id), ['ov-d2']);
});

test('a recent range off the hour: whole hours, five-minute sketches and leftover minutes of requests, counted exactly', async () => {
  const a = await analytics();
  // Two days ago (inside the five-minute sketches' 8 days), on the hour; no other test has rows there.
  const R = Math.floor(Date.now() / H) * H - 2 * DAY;
  // [R - 47 min, R + 1 h 23 min): minutes 47-45 before R from requests, 45-0 from five-minute sketches, [R, R + 1 h) the hourly one,
  // then 20 min of five-minute sketches and 3 from requests. The previous range, [R - 2 h 57 min, R - 47 min), is cut likewise.
  const since = R - 47 * M;
  const until = R + H + 23 * M;
  const prevSince = since - (until - since);
  const at = [prevSince - 1, prevSince, prevSince + 1 * M, prevSince + 2 * M + 7, R - 2 * H - 1, R - 2 * H, R - 90 * M, R - H, R - 50 * M - 1, R - 50 * M, since - 1,
    since, since + 1 * M, since + 2 * M, since + 30 * M, R - 1, R, R + 59 * M, R + H, R + H + 19 * M, R + H + 20 * M, R + H + 22 * M + 59_999, until, until + M];
  const ips = [v4('192.0.2.10'), v4('192.0.2.11'), v4('192.0.2.12'), '2001:db8:5::1'];
  const paths = ['/a', '/b', '/a', '/c', '/a'];
  // One to three requests at each time, from clients and to paths in turn: counts that differ from one key to the next.
  const rows: Req[] = at.flatMap((ts, i) => Array.from({ length: 1 + (i % 3) }, (_, j): Req => [ts, ips[(i + j) % ips.length]!, paths[(i * 2 + j) % paths.length]!, 200, FR, 'recent/1']));
  await a.insertStreamRows({
    table: 'requests',
    columns: REQUEST_COLUMNS,
    rows: rows.map(([ts, ip, path, status, geo, ua], i) => [`ov-recent-${i}`, ts, ip, 'shop', 'GET', 'shop.example', path, status, 1, ua, false, false, ...geo, 'overview-recent', 0, i]),
    deduplicationToken: 'overview-recent-requests',
  });
  const countIn = (from: number, to: number, key: (r: Req) => string) => {
    const n = new Map<string, number>();
    for (const r of rows) if (r[0] >= from && r[0] < to) n.set(key(r), (n.get(key(r)) ?? 0) + 1);
    return n;
  };
  const sorted = (n: Map<string, number>) => [...n].sort(([ka, x], [kb, y]) => y - x || (ka < kb ? -1 : 1));
  const o = await a.overview({ sinceMs: since, untilMs: until, bucketMs: 10 * M });
  // By the stored text (ties in its order), shown bare.
  const cur = countIn(since, until, (r) => r[1]);
  const before = countIn(prevSince, since, (r) => r[1]);
  assert.deepEqual(o.topClients.map((c) => [c.ip, c.requests, c.previous, c.error]), sorted(cur).map(([ip, n]) => [ip.replace('::ffff:', ''), n, before.get(ip) ?? 0, 0]));
  assert.deepEqual(o.totals.uniqueClients.value, cur.size);
  assert.deepEqual(o.totals.uniqueClients.previous, before.size);
  const curPaths = countIn(since, until, (r) => r[2]);
  const beforePaths = countIn(prevSince, since, (r) => r[2]);
  assert.deepEqual(o.topPaths.map((p) => [p.path, p.requests, p.previous]), sorted(curPaths).map(([p, n]) => [p, n, beforePaths.get(p) ?? 0]));
  assert.deepEqual(o.totals.requests.value, [...cur.values()].reduce((x, y) => x + y, 0));
  assert.deepEqual(o.totals.requests.previous, [...before.values()].reduce((x, y) => x + y, 0));
  assert.deepEqual(o.topClients.map((c) => c.country), o.topClients.map(() => 'FR'));

  // The five-minute sketches are read (not requests): a key that only a five-minute sketch holds is counted, in a partial hour three days ago.
  const T = R - DAY;
  await a.client.command({ query: `INSERT INTO requests_top_5min SELECT toDateTime(${(T + 10 * M) / 1000}), 'path', approx_top_countState(100, 1000)('/only-in-5min'), uniqState('x')` });
  const probe = await a.overview({ sinceMs: T, untilMs: T + 30 * M, bucketMs: 10 * M });
  assert.deepEqual(probe.topPaths.map((p) => [p.path, p.requests]), [['/only-in-5min', 1]]);
});

test('a reversed range, a bucket not in minutes or too fine, a bad top: FilterError saying what is accepted', async () => {
  const a = await analytics();
  await assert.rejects(a.overview({ sinceMs: U, untilMs: S, bucketMs: M }), (e: unknown) => e instanceof FilterError && /the end after the start/.test(e.message));
  await assert.rejects(a.overview({ sinceMs: S, untilMs: U, bucketMs: 30_000 }), (e: unknown) => e instanceof FilterError && /whole number of minutes/.test(e.message));
  await assert.rejects(a.overview({ sinceMs: S - 30 * DAY, untilMs: U, bucketMs: M }), (e: unknown) => e instanceof FilterError && /too many: give a bucket/.test(e.message));
  await assert.rejects(a.overview({ sinceMs: S, untilMs: U, bucketMs: M, top: 0 }), (e: unknown) => e instanceof FilterError && /from 1 to 100/.test(e.message));
});
