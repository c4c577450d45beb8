import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { migrate, MIGRATIONS_DIR, loadMigrations, retentionForAll } from './migrate.ts';
import { listRequests } from './queries/listRequests.ts';
import { countRequests } from './queries/countRequests.ts';
import { parseRequestFilter, FilterError } from './queries/requestFilter.ts';

const base = Date.parse('2026-11-20T12:00:00Z');
function row(i: number, over: Record<string, unknown> = {}) {
  return {
    event_id: `e${i}`, ts: base + i * 1000, ip: '::ffff:8.8.8.8', ip_anonymisation: 'off', app: 'store-test', instance: 'x',
    method: 'GET', host: 'h', path: `/p/${i}`, status: 200, latency_ms: 1, bytes: 10, user_agent: 'ua', referer: '',
    user_id: null, authenticated: false, blocked: false, rate_limited: false, country: 'US', region: '', city: '',
    latitude: null, longitude: null, asn: 15169, org: 'Google', geo_source: 'offline', enriched_at: base, kafka_partition: 0, kafka_offset: i, ...over,
  };
}

test('migrations are idempotent, ledgered, and an edited one is refused', async () => {
  const analytics = await testAnalytics();
  const again = await migrate(analytics);
  assert.deepEqual(again.applied, []);
  assert.equal(again.alreadyApplied.length, loadMigrations().length);

  const dir = mkdtempSync(join(tmpdir(), 'ipwatch-mig-')) + '/';
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  appendFileSync(join(dir, '0001_requests.sql'), '\n-- edited\n');
  await assert.rejects(migrate(analytics, { dir }), /was changed after it was applied/);
});

test('retention setting changes the TTL', async () => {
  const analytics = await testAnalytics();
  await migrate(analytics, { retention: { ...retentionForAll(5000), requestsDays: 30 } });
  const [r] = await (await analytics.client.query({ query: "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'requests'", format: 'JSONEachRow' })).json<{ engine_full: string }>();
  assert.match(r!.engine_full, /toIntervalDay\(30\)/);
});

test('filters by IP, CIDR, path, status, time; hostile text stays data', async () => {
  const analytics = await testAnalytics();
  const evil = "/x' OR 1=1 -- \\' ; DROP TABLE requests; {ip:String}";
  await analytics.client.insert({
    table: 'requests',
    format: 'JSONEachRow',
    values: [
      row(1), row(2, { status: 404, path: '/wp-admin' }), row(3, { ip: '2001:4860:4860::8888', status: 500 }),
      row(4, { ip: '::ffff:10.1.2.3', path: evil }), row(5, { ts: base - 86_400_000 }),
    ],
  });
  const list = (f: Parameters<typeof parseRequestFilter>[0]) => listRequests(analytics, parseRequestFilter({ ...f, limit: 100 }, base + 60_000));
  assert.equal((await list({ ip: '8.8.8.8' })).length, 3);
  assert.equal((await list({ ip: '10.0.0.0/8' }))[0]!.ip, '10.1.2.3');
  assert.equal((await list({ ip: '2001:4860::/32' }))[0]!.ip, '2001:4860:4860::8888');
  assert.deepEqual((await list({ status: '4xx' })).map((r) => r.path), ['/wp-admin']);
  assert.equal((await list({ status: '>=400' })).length, 2);
  assert.equal((await list({ path: 'WP-ADMIN' })).length, 1);
  assert.equal((await list({ path: evil }))[0]!.path, evil);
  assert.equal((await list({ since: '1h' })).length, 4);
  const all = await list({});
  assert.equal(all[0]!.ts > all[1]!.ts, true, 'newest first');
  assert.equal(await countRequests(analytics), 5);
  assert.equal(await countRequests(analytics, parseRequestFilter({ ip: '8.8.8.8' })), 3);
});

test('bad filters say what is wrong', () => {
  assert.throws(() => parseRequestFilter({ ip: '1.2.3.4/40' }), FilterError);
  assert.throws(() => parseRequestFilter({ ip: 'nope' }), /not an IP address or CIDR/);
  assert.throws(() => parseRequestFilter({ status: 'abc' }), /use 404, 4xx/);
  assert.throws(() => parseRequestFilter({ since: 'yesterday' }), /15m, 2h, 7d/);
  assert.throws(() => parseRequestFilter({ limit: '0' }), /from 1 to/);
  assert.throws(() => parseRequestFilter({ country: 'USA' }), /two-letter/);
});
