/**
 * The request log's URL filter (parseLogFilter) and its queries (listRequestLog, and
 * countRequests with the new fields) on chDB: parsing and refusals, exclusions that keep
 * rows with no user, the keyset cursor, and the CLI's filter unchanged.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { FilterError, parseLogFilter, parseRequestFilter } from './requestFilter.ts';
import { listRequestLog } from './listRequests.ts';
import { countRequests } from './countRequests.ts';

const now = Date.parse('2026-11-30T12:00:00Z');

test('parseLogFilter: typed values, exclusions, a 24 h default range, empty values as no filter', () => {
  const f = parseLogFilter({ ip: '203.0.113.0/24', method: 'post', status: '4xx', country: 'de', asn: 'AS13335', user: 'alice', ua: 'curl', blocked: 'true', limited: 'false', not_path: '/health', not_status: '404', path: '', before: '1764500000000,ev-9', limit: '10' }, now);
  assert.deepEqual(f, {
    limit: 10, ipRange: { from: '::ffff:203.0.113.0', to: '::ffff:203.0.113.255' }, method: 'POST', status: { from: 400, to: 499 }, country: 'DE', asn: 13335, user: 'alice', uaContains: 'curl',
    exclude: { pathContains: '/health', status: { from: 404, to: 404 } }, blocked: true, rateLimited: false, sinceMs: now - 86_400_000, before: { tsMs: 1764500000000, eventId: 'ev-9' },
  });
  assert.equal(parseLogFilter({ until: '2026-11-01T00:00:00Z' }, now).sinceMs, Date.parse('2026-10-31T00:00:00Z'), 'the 24 h before until');
  assert.throws(() => parseLogFilter({ not_ip: '10.0.0.0/33' }, now), (e: Error) => e instanceof FilterError && /^not_ip: /.test(e.message));
  assert.throws(() => parseLogFilter({ asn: '-1' }, now), /asn "-1" is not a network number/);
  assert.throws(() => parseLogFilter({ method: 'GET /' }, now), /method "GET \/" is not an HTTP method/);
  assert.throws(() => parseLogFilter({ before: '1,2,3 4' }, now), /before ".*" is not a page cursor/);
  assert.throws(() => parseLogFilter({ limited: 'maybe' }, now), /limited "maybe" must be true or false/);
  assert.throws(() => parseLogFilter({ since: '1h', until: '2h' }, now), /until is not after since/);
  // The CLI's filter and messages are as they were.
  assert.deepEqual(parseRequestFilter({}, now), { limit: 50 });
  assert.throws(() => parseRequestFilter({ status: 'abc' }, now), /--status "abc" is not a status filter: use 404, 4xx/);
});

test('listRequestLog and countRequests: each new field and exclusion, NULL users kept by not_user, keyset cursor', async () => {
  const analytics = await testAnalytics();
  const t = Date.now() - 60_000;
  const cols = ['event_id', 'ts', 'ip', 'method', 'path', 'status', 'user_agent', 'user_id', 'login_user', 'blocked', 'rate_limited', 'asn', 'log_epoch', 'kafka_partition', 'kafka_offset'];
  await analytics.insertStreamRows({
    table: 'requests', columns: cols as [string, ...string[]], deduplicationToken: 'store-log',
    rows: [
      ['sl-a', t, '::ffff:198.18.40.1', 'GET', '/', 200, 'curl/8', 'u1', null, false, false, 1, 'sl', 0, 1],
      ['sl-b', t, '::ffff:198.18.40.2', 'POST', '/login', 401, 'Mozilla', null, 'bob', false, true, 2, 'sl', 0, 2],
      ['sl-c', t, '::ffff:198.18.40.3', 'GET', '/x', 403, 'Mozilla', null, null, true, false, 3, 'sl', 0, 3],
    ],
  });
  const base = parseLogFilter({ ip: '198.18.40.0/24' });
  const ids = async (extra: Record<string, string>) => (await listRequestLog(analytics, { ...parseLogFilter({ ip: '198.18.40.0/24', ...extra }) })).map((r) => r.event_id);
  assert.deepEqual(await ids({}), ['sl-c', 'sl-b', 'sl-a'], 'newest first, ties by event_id descending');
  assert.deepEqual(await ids({ user: 'bob' }), ['sl-b']);
  assert.deepEqual(await ids({ user: 'u1' }), ['sl-a']);
  assert.deepEqual(await ids({ not_user: 'bob' }), ['sl-c', 'sl-a'], 'rows with no user are not dropped by an exclusion');
  assert.deepEqual(await ids({ method: 'POST' }), ['sl-b']);
  assert.deepEqual(await ids({ asn: '3' }), ['sl-c']);
  assert.deepEqual(await ids({ not_ua: 'mozilla' }), ['sl-a']);
  assert.deepEqual(await ids({ blocked: 'false', limited: 'false' }), ['sl-a']);
  assert.deepEqual(await ids({ before: `${t},sl-c` }), ['sl-b', 'sl-a'], 'strictly older than the cursor within one millisecond');
  assert.deepEqual(await ids({ before: `${t},sl-a` }), []);
  const { before: _b, limit: _l, ...counted } = base;
  assert.equal(await countRequests(analytics, { ...counted, exclude: { status: { from: 400, to: 403 } } }), 1);
  const rows = await listRequestLog(analytics, base);
  assert.equal(rows[0]!.ts, new Date(t).toISOString());
  assert.equal(rows[0]!.ip, '198.18.40.3');
});

test('listRequestLog reads the newest eighth of the range first, then the rest: same rows, same order', async () => {
  const analytics = await testAnalytics();
  const t = Date.now();
  const H = 3_600_000;
  await analytics.insertStreamRows({
    table: 'requests', columns: ['event_id', 'ts', 'ip', 'log_epoch', 'kafka_partition', 'kafka_offset'], deduplicationToken: 'store-slices',
    rows: [['ss-1', t - 60_000, '::ffff:198.18.41.1', 'ss', 0, 1], ['ss-2', t - 10 * H, '::ffff:198.18.41.2', 'ss', 0, 2], ['ss-3', t - 40 * H, '::ffff:198.18.41.3', 'ss', 0, 3], ['ss-4', t - 47 * H, '::ffff:198.18.41.4', 'ss', 0, 4]],
  });
  const ids = async (q: Record<string, string>) => (await listRequestLog(analytics, parseLogFilter({ ip: '198.18.41.0/24', since: '48h', ...q }, t), t)).map((r) => r.event_id);
  assert.deepEqual(await ids({}), ['ss-1', 'ss-2', 'ss-3', 'ss-4']);
  assert.deepEqual(await ids({ limit: '1' }), ['ss-1'], 'filled from the newest slice');
  assert.deepEqual(await ids({ limit: '3' }), ['ss-1', 'ss-2', 'ss-3'], 'topped up from the rest, in order');
  assert.deepEqual(await ids({ before: `${t - 10 * H},zzz`, limit: '1' }), ['ss-2'], 'the slice follows the cursor');
  assert.deepEqual(await ids({ before: `${t - 10 * H},ss-2` }), ['ss-3', 'ss-4']);
  assert.deepEqual(await ids({ until: '20h' }), ['ss-3', 'ss-4']);
});
