/**
 * The daily report on real chDB: two UTC days of rows counted exactly (the edges of the day
 * included or not to the millisecond), top lists with the day before's counts, detections,
 * blocks made and lifted (unblocked, run out), rate limits; Europe/Paris's 23 h and 25 h
 * days; bad dates and zones refused.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { migrate, retentionForAll, type Analytics } from '../index.ts';

const H = 3_600_000;
const M = 60_000;
const D = Date.parse('2026-03-10T00:00:00Z');
const P = D - 24 * H;

let ready: Promise<Analytics> | undefined;
// The rows are of March 2026: keep them past the default 90-day TTL whatever day the test runs (36500 would overflow DateTime's 2106 and drop them all).
const analytics = () => (ready ??= testAnalytics().then(async (a) => (await migrate(a, { retention: retentionForAll(5000) }), a)));

const REQUEST_COLUMNS = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'blocked', 'rate_limited', 'country', 'asn', 'org', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
const FR = ['FR', 16276, 'OVH SAS'] as const;
const US = ['US', 15169, 'Google LLC'] as const;
const NONE = ['', 0, ''] as const;
type Req = [ts: number, ip: string, path: string, status: number, geo: readonly [string, number, string], flags?: 'blocked' | 'limited'];

async function insertRequests(a: Analytics, tag: string, rows: Req[]): Promise<void> {
  await a.insertStreamRows({
    table: 'requests',
    columns: REQUEST_COLUMNS,
    rows: rows.map(([ts, ip, path, status, geo, flags], i) => [`${tag}-${i}`, ts, ip, 'shop', 'GET', 'shop.example', path, status, 1, 'ua', flags === 'blocked', flags === 'limited', ...geo, tag, 0, i]),
    deduplicationToken: `${tag}-requests`,
  });
}

const v4 = (ip: string) => `::ffff:${ip}`;

let seeded: Promise<void> | undefined;
function seedTwoDays(a: Analytics): Promise<void> {
  seeded ??= (async () => {
    await insertRequests(a, 'two-days', [
      // The day before: 4 requests, 3 clients.
      [P, v4('198.51.100.1'), '/', 200, FR],
      [P + 5 * H, v4('198.51.100.1'), '/', 500, FR],
      [P + 6 * H, v4('198.51.100.2'), '/login', 404, FR],
      [D - 1, v4('203.0.113.9'), '/', 200, US],
      // The day: 10 requests, 4 clients (one IPv6).
      [D, v4('198.51.100.1'), '/', 200, FR],
      [D + 1 * H, v4('198.51.100.1'), '/', 200, FR],
      [D + 1 * H + M, v4('198.51.100.1'), '/login', 401, FR],
      [D + 2 * H, v4('198.51.100.1'), '/.env', 403, FR, 'blocked'],
      [D + 2 * H + M, v4('198.51.100.2'), '/', 502, FR],
      [D + 2 * H + 2 * M, v4('198.51.100.2'), '/login', 429, FR, 'limited'],
      [D + 13 * H, v4('203.0.113.9'), '/', 200, US],
      [D + 13 * H + M, v4('203.0.113.9'), '/<script>', 404, US],
      [D + 23 * H, '2001:db8:1:2::5', '/', 500, NONE],
      [D + 24 * H - 1, '2001:db8:1:2::5', '/', 200, NONE],
      // The day after: not counted.
      [D + 24 * H, v4('198.51.100.1'), '/', 200, FR],
    ]);
    const columns = ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
    const detection = (id: string, ts: number, ip: string, rule: string, severity: string, mode: string, action: string, expires: number | null, i: number) =>
      [id, ts, v4(ip), ip, rule, severity, mode, 1, 2, 1, ts - M, ts, { summary: `${rule} ${ip}` }, action, expires, 1, 'two-days', 0, i];
    await a.insertStreamRows({
      table: 'detections',
      columns,
      rows: [
        detection('p1', P + H, '198.51.100.2', 'burst', 'high', 'live', 'flag', null, 0),
        // Live blocks: the store's view also writes them into block_events (source: the rule).
        detection('d1', D + 2 * H, '198.51.100.1', 'sensitive-files', 'high', 'live', 'block', D + 3 * H, 1),
        detection('d2', D + 3 * H, '198.51.100.2', 'sensitive-files', 'high', 'live', 'block', D + 30 * H, 2),
        detection('d3', D + 4 * H, '198.51.100.2', 'hourly-volume', 'low', 'live', 'flag', null, 3),
        detection('d4', D + 5 * H, '203.0.113.9', 'cms-probe', 'medium', 'dry_run', 'block', D + 6 * H, 4),
      ],
      deduplicationToken: 'two-days-detections',
    });
    const event = (ts: number, action: 'block' | 'unblock', target: string, source: string, expires: number | null) =>
      ({ ts, action, target, reason: `${action} ${target}`, source, severity: 'high', expires_at: expires, actor: 'alice', note: '' });
    await a.insertBlockEvents([
      // The day before: one manual block, running out the next day (counted as expired then).
      event(P + 2 * H, 'block', '192.0.2.1', 'manual', D + 10 * H),
      // The day: an import, a manual block lifted by hand, a manual block replaced before it ran out (not expired).
      event(D + 1 * H, 'block', '192.0.2.2', 'import', null),
      event(D + 1 * H, 'block', '192.0.2.3', 'manual', D + 20 * H),
      event(D + 7 * H, 'unblock', '192.0.2.3', 'manual', D + 20 * H),
      event(D + 8 * H, 'block', '192.0.2.4', 'manual', D + 9 * H),
      event(D + 8 * H + M, 'block', '192.0.2.4', 'manual', D + 48 * H),
    ]);
    await a.insertStreamRows({
      table: 'rate_limit_events',
      columns: ['ts', 'ip', 'rule', 'limit_key', 'limit', 'window_ms', 'count', 'path', 'app', 'log_epoch', 'kafka_partition', 'kafka_offset'],
      rows: [
        [P + H, v4('198.51.100.2'), 'login', 'ip:198.51.100.2', 3, 300_000, 4, '/login', 'shop', 'two-days', 0, 0],
        [D + 2 * H, v4('198.51.100.2'), 'login', 'ip:198.51.100.2', 3, 300_000, 3, '/login', 'shop', 'two-days', 0, 1],
        [D + 2 * H + 1000, v4('198.51.100.2'), 'login', 'ip:198.51.100.2', 3, 300_000, 2, '/login', 'shop', 'two-days', 0, 2],
        [D + 9 * H, v4('203.0.113.9'), 'anonymous', 'ip:203.0.113.9', 5, 60_000, 7, '/', 'shop', 'two-days', 0, 3],
      ],
      deduplicationToken: 'two-days-ratelimits',
    });
  })();
  return seeded;
}

test('two UTC days: headline figures with the day before and the change, the edges of the day to the millisecond', async () => {
  const a = await analytics();
  await seedTwoDays(a);
  const r = await a.dailyReport({ date: '2026-03-10', timeZone: 'UTC', now: 42 });
  assert.equal(r.date, '2026-03-10');
  assert.equal(r.timeZone, 'UTC');
  assert.equal(r.generatedAt, 42);
  assert.deepEqual(r.range, { date: '2026-03-10', since: D, until: D + 24 * H, hours: 24 });
  assert.deepEqual(r.previousRange, { date: '2026-03-09', since: P, until: D, hours: 24 });
  const t = r.totals;
  assert.deepEqual(t.requests, { value: 10, previous: 4, change: 1.5 });
  assert.deepEqual(t.uniqueClients, { value: 4, previous: 3, change: 1 / 3 });
  assert.deepEqual(t.serverErrors, { value: 2, previous: 1, change: 1 });
  assert.deepEqual(t.serverErrorRate, { value: 0.2, previous: 0.25, change: (0.2 - 0.25) / 0.25 });
  assert.deepEqual(t.clientErrors, { value: 4, previous: 1, change: 3 });
  assert.deepEqual(t.clientErrorRate, { value: 0.4, previous: 0.25, change: (0.4 - 0.25) / 0.25 });
  assert.deepEqual(t.blocked, { value: 1, previous: 0, change: null });
  assert.deepEqual(t.rateLimited, { value: 1, previous: 0, change: null });
  assert.deepEqual(t.detections, { value: 4, previous: 1, change: 3 });
  assert.deepEqual(t.rateLimitRefusals, { value: 12, previous: 4, change: 2 });
  // Made: 2 rule blocks (the view), 1 import, 3 manual; the day before 1 manual. The live flags (p1, d3) are
  // not blocks: the view writes live blocks only (migration 0007; 0006's alias shadowed action).
  assert.deepEqual(t.blocksMade, { value: 6, previous: 1, change: 5 });
  const audited = await a.listBlockEvents({ limit: 1000 });
  assert.deepEqual(audited.map((e) => e.note ?? '').filter((n) => n.startsWith('detection ')).sort(), ['detection d1', 'detection d2']);
  // Lifted: 192.0.2.3 by hand; run out: 192.0.2.1 (made the day before) and d1's rule block; not 192.0.2.4 (replaced first), not d2's (tomorrow).
  assert.deepEqual(r.blocks.unblocked, { value: 1, previous: 0, change: null });
  assert.deepEqual(r.blocks.expired, { value: 2, previous: 0, change: null });
  assert.deepEqual(t.blocksLifted, { value: 3, previous: 0, change: null });
});

test('two UTC days: hours, top lists with the day before, detections, blocks by source, rate limits', async () => {
  const a = await analytics();
  await seedTwoDays(a);
  const r = await a.dailyReport({ date: '2026-03-10', timeZone: 'UTC', top: 2 });
  assert.equal(r.hourly.length, 24);
  assert.deepEqual(r.hourly.slice(0, 3), [
    { start: D, label: '00:00', requests: 1, errors: 0 },
    { start: D + H, label: '01:00', requests: 2, errors: 1 },
    { start: D + 2 * H, label: '02:00', requests: 3, errors: 3 },
  ]);
  assert.deepEqual(r.hourly[23], { start: D + 23 * H, label: '23:00', requests: 2, errors: 1 });
  assert.equal(r.hourly.reduce((s, h) => s + h.requests, 0), 10);
  assert.equal(r.top, 2);
  assert.deepEqual(r.topClients, [
    { ip: '198.51.100.1', requests: 4, previous: 2, change: 1, errors: 2, country: 'FR', asn: 16276, org: 'OVH SAS' },
    // Three clients have 2: the order is by requests, then by text.
    { ip: '198.51.100.2', requests: 2, previous: 1, change: 1, errors: 2, country: 'FR', asn: 16276, org: 'OVH SAS' },
  ]);
  const all = await a.dailyReport({ date: '2026-03-10', timeZone: 'UTC' });
  assert.deepEqual(all.topClients.map((c) => [c.ip, c.requests, c.previous, c.country]), [
    ['198.51.100.1', 4, 2, 'FR'], ['198.51.100.2', 2, 1, 'FR'], ['2001:db8:1:2::5', 2, 0, ''], ['203.0.113.9', 2, 1, 'US'],
  ]);
  assert.deepEqual(all.topPaths, [
    { path: '/', requests: 6, previous: 3, change: 1, errors: 2, clients: 4 },
    { path: '/login', requests: 2, previous: 1, change: 1, errors: 2, clients: 2 },
    { path: '/.env', requests: 1, previous: 0, change: null, errors: 1, clients: 1 },
    { path: '/<script>', requests: 1, previous: 0, change: null, errors: 1, clients: 1 },
  ]);
  assert.deepEqual(all.topCountries, [
    { country: 'FR', requests: 6, previous: 3, change: 1, clients: 2 },
    { country: '', requests: 2, previous: 0, change: null, clients: 1 },
    { country: 'US', requests: 2, previous: 1, change: 1, clients: 1 },
  ]);
  assert.deepEqual(all.topNetworks.asns, [
    { asn: 16276, org: 'OVH SAS', requests: 6, previous: 3, change: 1, clients: 2 },
    { asn: 0, org: '', requests: 2, previous: 0, change: null, clients: 1 },
    { asn: 15169, org: 'Google LLC', requests: 2, previous: 1, change: 1, clients: 1 },
  ]);
  assert.deepEqual(all.topNetworks.prefixes.map((p) => [p.network, p.requests, p.previous, p.clients, p.country]), [
    ['198.51.100.0/24', 6, 3, 2, 'FR'], ['2001:db8:1::/48', 2, 0, 1, ''], ['203.0.113.0/24', 2, 1, 1, 'US'],
  ]);
  assert.deepEqual(all.detections.byRule, [
    { rule: 'sensitive-files', severity: 'high', detections: 2, previous: 0, change: null, blocked: 2, dryRun: 0, clients: 2 },
    { rule: 'cms-probe', severity: 'medium', detections: 1, previous: 0, change: null, blocked: 0, dryRun: 1, clients: 1 },
    { rule: 'hourly-volume', severity: 'low', detections: 1, previous: 0, change: null, blocked: 0, dryRun: 0, clients: 1 },
    { rule: 'burst', severity: 'high', detections: 0, previous: 1, change: -1, blocked: 0, dryRun: 0, clients: 0 },
  ]);
  assert.deepEqual(all.detections.bySeverity, [
    { severity: 'high', detections: 2, previous: 1, change: 1 },
    { severity: 'medium', detections: 1, previous: 0, change: null },
    { severity: 'low', detections: 1, previous: 0, change: null },
  ]);
  assert.deepEqual(all.blocks.bySource, [
    { source: 'manual', kind: 'manual', blocks: 3, previous: 1, change: 2 },
    { source: 'sensitive-files', kind: 'rule', blocks: 2, previous: 0, change: null },
    { source: 'import', kind: 'import', blocks: 1, previous: 0, change: null },
  ]);
  assert.deepEqual(all.blocks.madeByKind, {
    rule: { value: 2, previous: 0, change: null },
    manual: { value: 3, previous: 1, change: 2 },
    import: { value: 1, previous: 0, change: null },
  });
  assert.deepEqual(all.rateLimits.byRule, [
    { rule: 'anonymous', refusals: 7, previous: 0, change: null, events: 1, clients: 1 },
    { rule: 'login', refusals: 5, previous: 4, change: 0.25, events: 2, clients: 1 },
  ]);
});

test('Europe/Paris: 2026-03-29 is 23 hours (no 02:00), 2026-10-25 is 25 (02:00 twice), rows at the edges placed by local day', async () => {
  const a = await analytics();
  const start = Date.parse('2026-03-28T23:00:00Z'); // local midnight, UTC+1
  const end = Date.parse('2026-03-29T22:00:00Z'); // next local midnight, UTC+2
  await insertRequests(a, 'paris-spring', [
    [start - 1, v4('192.0.2.50'), '/before', 200, FR],
    [start, v4('192.0.2.50'), '/in', 200, FR],
    [Date.parse('2026-03-29T01:30:00Z'), v4('192.0.2.50'), '/in', 200, FR], // 03:30 local
    [end - 1, v4('192.0.2.50'), '/in', 200, FR],
    [end, v4('192.0.2.50'), '/after', 200, FR],
  ]);
  const spring = await a.dailyReport({ date: '2026-03-29', timeZone: 'Europe/Paris' });
  assert.deepEqual(spring.range, { date: '2026-03-29', since: start, until: end, hours: 23 });
  assert.deepEqual(spring.previousRange, { date: '2026-03-28', since: start - 24 * H, until: start, hours: 24 });
  assert.equal(spring.totals.requests.value, 3);
  assert.equal(spring.totals.requests.previous, 1);
  assert.equal(spring.hourly.length, 23);
  assert.deepEqual(spring.hourly.slice(0, 4).map((h) => [h.label, h.requests]), [['00:00', 1], ['01:00', 0], ['03:00', 1], ['04:00', 0]]);
  assert.deepEqual(spring.hourly[22], { start: end - H, label: '23:00', requests: 1, errors: 0 });

  const fall = await a.dailyReport({ date: '2026-10-25', timeZone: 'europe/paris' });
  assert.equal(fall.timeZone, 'Europe/Paris');
  assert.deepEqual(fall.range, { date: '2026-10-25', since: Date.parse('2026-10-24T22:00:00Z'), until: Date.parse('2026-10-25T23:00:00Z'), hours: 25 });
  assert.deepEqual(fall.hourly.map((h) => h.label).slice(0, 5), ['00:00', '01:00', '02:00', '02:00', '03:00']);
  assert.equal(fall.hourly.length, 25);
  // A zone half an hour off UTC keeps its own hours.
  const india = await a.dailyReport({ date: '2026-03-10', timeZone: 'Asia/Kolkata' });
  assert.equal(india.range.since, Date.parse('2026-03-09T18:30:00Z'));
  assert.ok(india.hourly.every((h) => h.label.endsWith(':00')));
});

test('a date that is not YYYY-MM-DD or not a real day, an unknown or offset zone, a bad top: FilterError saying what is accepted', async () => {
  const a = await analytics();
  const refused = (query: { date: string; timeZone: string; top?: number }, message: RegExp) => assert.rejects(a.dailyReport(query), { name: 'FilterError', code: 'IPWATCH_BAD_FILTER', message });
  await refused({ date: '2026-02-30', timeZone: 'UTC' }, /^date "2026-02-30" is not a real day .*give a day the month has, e.g. 2026-02-01/);
  await refused({ date: '2026/03/01', timeZone: 'UTC' }, /is not a day: write it YYYY-MM-DD, e.g. /);
  await refused({ date: '2026-3-1', timeZone: 'UTC' }, /write it YYYY-MM-DD/);
  await refused({ date: "2026-03-01' OR 1=1", timeZone: 'UTC' }, /write it YYYY-MM-DD/);
  await refused({ date: '2026-03-01', timeZone: 'Mars/Olympus_Mons' }, /^time zone "Mars\/Olympus_Mons" is not known: give an IANA time zone name such as UTC, Europe\/Paris/);
  await refused({ date: '2026-03-01', timeZone: '+01:00' }, /is not an IANA time zone name/);
  await refused({ date: '2026-03-01', timeZone: '' }, /is not an IANA time zone name/);
  await refused({ date: '2026-03-01', timeZone: 'UTC', top: 0 }, /top "0" must be a whole number from 1 to 100/);
});
