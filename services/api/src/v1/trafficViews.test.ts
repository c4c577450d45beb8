/** The parameters of /api/v1/overview, /detections and /rate-limits, parsed into typed queries or refused with what is accepted. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { detectionsQuery, overviewQuery, rateLimitsQuery, requestLogQuery } from './trafficViews.ts';

const now = Date.parse('2026-12-01T12:00:30Z');
const M = 60_000;
const H = 60 * M;

test('the overview: a day ending at the next whole minute by default, 15-minute buckets; since and until on whole minutes', () => {
  assert.deepEqual(overviewQuery({}, now), { sinceMs: Date.parse('2026-11-30T12:01:00Z'), untilMs: Date.parse('2026-12-01T12:01:00Z'), bucketMs: 15 * M, top: 10, latest: 10 });
  const q = overviewQuery({ since: '2026-12-01T10:00:30Z', until: '2026-12-01T11:59:10Z', bucket: '5m', top: '3', latest: '100' }, now);
  assert.deepEqual(q, { sinceMs: Date.parse('2026-12-01T10:00:00Z'), untilMs: Date.parse('2026-12-01T12:00:00Z'), bucketMs: 5 * M, top: 3, latest: 100 });
  assert.equal(overviewQuery({ since: '1h' }, now).bucketMs, M, 'an hour: by the minute');
  assert.equal(overviewQuery({ since: '7d' }, now).bucketMs, H, 'a week: by the hour');
  assert.equal(overviewQuery({ since: '31d' }, now).bucketMs, 6 * H);
});

test('the overview refuses what it cannot answer, saying what it takes', () => {
  assert.throws(() => overviewQuery({ bucket: '30s' }, now), /bucket "30s" is not a bucket length: give minutes, hours or days/);
  assert.throws(() => overviewQuery({ bucket: '0m' }, now), /not a bucket length/);
  assert.throws(() => overviewQuery({ since: '40d' }, now), /at most 31 days/);
  assert.throws(() => overviewQuery({ since: '1h', until: '2h' }, now), /since .* must be before until/);
  assert.throws(() => overviewQuery({ top: '0' }, now), /top "0" must be a whole number from 1 to 100/);
  assert.throws(() => overviewQuery({ latest: '1e2' }, now), /latest "1e2"/);
  assert.throws(() => overviewQuery({ period: '24h' }, now), (e: Error & { code?: string }) => e.code === 'IPWATCH_UNKNOWN_PARAMETER' && /takes since, until, bucket, top, latest/.test(e.message));
  assert.throws(() => overviewQuery({ since: '' }, now), /since is empty/);
});

test('detections: each filter typed, the cursor read, the page bounded', () => {
  const q = detectionsQuery({ rule: 'burst', severity: 'high', mode: 'dry_run', client: '2001:db8:1:2::/64', before: '1764590400000,det-7', limit: '500' }, now);
  assert.deepEqual(q, {
    sinceMs: now - 24 * H,
    untilMs: now,
    limit: 500,
    rule: 'burst',
    severity: 'high',
    mode: 'dry_run',
    client: { text: '2001:db8:1:2::/64', ipFrom: '2001:db8:1:2::', ipTo: '2001:db8:1:2:ffff:ffff:ffff:ffff' },
    before: { tsMs: 1764590400000, id: 'det-7' },
  });
  assert.throws(() => detectionsQuery({ severity: 'urgent' }, now), /give low, medium, high, critical/);
  assert.throws(() => detectionsQuery({ mode: 'shadow' }, now), /give live or dry_run/);
  assert.throws(() => detectionsQuery({ rule: "x' OR 1=1" }, now), /is not a rule id/);
  assert.throws(() => detectionsQuery({ client: '10.0.0.1/8' }, now), /did you mean 10\.0\.0\.0\/8/);
  assert.throws(() => detectionsQuery({ before: 'yesterday' }, now), /not a page cursor/);
  assert.throws(() => detectionsQuery({ limit: '501' }, now), /from 1 to 500/);
});

test('rate-limit refusals: ip as a range, the rule named, the rows bounded', () => {
  assert.deepEqual(rateLimitsQuery({ ip: '203.0.113.7', rule: 'login', since: '1h', limit: '5' }, now), {
    sinceMs: now - H,
    untilMs: now,
    limit: 5,
    ip: { from: '::ffff:203.0.113.7', to: '::ffff:203.0.113.7' },
    rule: 'login',
  });
  assert.throws(() => rateLimitsQuery({ ip: 'example.com' }, now), /ip/);
  assert.throws(() => rateLimitsQuery({ rule: 'a b' }, now), /not a rate-limit rule's name/);
  assert.throws(() => rateLimitsQuery({ limit: '1001' }, now), /from 1 to 1000/);
});

test('the request log: the dashboard\'s filter, exclusions too, bounded by a day; empty values refused rather than read as "any"', () => {
  const q = requestLogQuery({ ip: '203.0.113.0/24', not_status: '2xx', method: 'post', before: '1764590400000,ev-9', limit: '1000' }, now);
  assert.deepEqual(q.ipRange, { from: '::ffff:203.0.113.0', to: '::ffff:203.0.113.255' });
  assert.deepEqual(q.exclude, { status: { from: 200, to: 299 } });
  assert.equal(q.method, 'POST');
  assert.deepEqual([q.sinceMs, q.limit, q.before], [now - 24 * H, 1000, { tsMs: 1764590400000, eventId: 'ev-9' }]);
  assert.throws(() => requestLogQuery({ ip: '' }, now), /ip is empty/);
  assert.throws(() => requestLogQuery({ limit: '1001' }, now), /from 1 to 1000/);
  assert.throws(() => requestLogQuery({ nott_ip: '1.2.3.4' }, now), (e: Error & { code?: string }) => e.code === 'IPWATCH_UNKNOWN_PARAMETER' && /it takes ip, path, method, .*, not_ip, .*, before, limit/.test(e.message));
});
