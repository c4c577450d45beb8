/**
 * Retention, enforced (README, "Retention"): `migrate` sets each table's TTL to its configured
 * days, changes it when the config changes, leaves it alone (no parts rewritten) when it did
 * not, and a dry run only says what it would do. Expired rows go at ClickHouse's next TTL merge.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { RetentionConfig } from '@ipwatch/core/config';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { migrate, type RetentionChange } from './migrate.ts';
import type { Analytics } from './analytics.ts';

const DAY = 86_400_000;
const first: RetentionConfig = { requestsDays: 30, rateLimitEventsDays: 31, detectionsDays: 32, blockEventsDays: 33, auditDays: 34, rollupsDays: 35, topicHours: 24, dlqDays: 2 };
const second: RetentionConfig = { requestsDays: 5, rateLimitEventsDays: 41, detectionsDays: 42, blockEventsDays: 43, auditDays: 44, rollupsDays: 45, topicHours: 24, dlqDays: 2 };

/** The TTL each table should have under `r`: its time column, and its days. */
function expected(r: RetentionConfig): Record<string, string> {
  return {
    requests: `toDateTime(ts) + toIntervalDay(${r.requestsDays})`,
    rate_limit_events: `toDateTime(ts) + toIntervalDay(${r.rateLimitEventsDays})`,
    detections: `toDateTime(ts) + toIntervalDay(${r.detectionsDays})`,
    block_events: `toDateTime(ts) + toIntervalDay(${r.blockEventsDays})`,
    privacy_audit: `toDateTime(ts) + toIntervalDay(${r.auditDays})`,
    requests_per_minute: `minute + toIntervalDay(${r.rollupsDays})`,
    requests_top_hourly: `hour + toIntervalDay(${r.requestsDays})`,
    requests_top_5min: `bucket + toIntervalDay(${Math.min(8, r.requestsDays)})`,
  };
}

/** Each table's TTL as ClickHouse reports it, read from its CREATE statement (a different source than migrate's engine_full). */
async function ttls(a: Analytics): Promise<Record<string, string | null>> {
  const rows = await (
    await a.client.query({
      query: 'SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() AND name IN {t:Array(String)}',
      query_params: { t: Object.keys(expected(first)) },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; create_table_query: string }>();
  return Object.fromEntries(rows.map((r) => [r.name, /\bTTL (.+?)(?: SETTINGS |$)/.exec(r.create_table_query)?.[1] ?? null]));
}

const byTable = (changes: RetentionChange[]) => Object.fromEntries(changes.map((c) => [c.table, [c.days, c.was]]));

test('migrate sets every table\'s TTL from the config, changes it when the config changes, and leaves it when it did not', async () => {
  const a = await testAnalytics();
  const before = await ttls(a);
  assert.equal(before.detections, null, 'detections had no TTL before retention was configured');

  const set = await migrate(a, { retention: first });
  assert.deepEqual(await ttls(a), expected(first));
  assert.deepEqual(byTable(set.retention), {
    requests: [30, 90], rate_limit_events: [31, 90], detections: [32, null], block_events: [33, null], privacy_audit: [34, null],
    requests_per_minute: [35, 400], requests_top_hourly: [30, 400],
  }, 'requests_top_5min keeps its 8 days: shorter than the requests');

  const dry = await migrate(a, { retention: second, dryRun: true });
  assert.equal(dry.retention.length, 8, 'a dry run says what would change');
  assert.deepEqual(await ttls(a), expected(first), 'and changes nothing');

  const changed = await migrate(a, { retention: second });
  assert.deepEqual(await ttls(a), expected(second));
  assert.deepEqual(byTable(changed.retention), {
    requests: [5, 30], rate_limit_events: [41, 31], detections: [42, 32], block_events: [43, 33], privacy_audit: [44, 34],
    requests_per_minute: [45, 35], requests_top_hourly: [5, 30], requests_top_5min: [5, 8],
  });

  const mutationsBefore = await mutations(a);
  assert.ok(mutationsBefore > 0, 'a changed TTL rewrites parts (a mutation each)');
  const again = await migrate(a, { retention: second });
  assert.deepEqual(again.retention, [], 'the same config again changes nothing');
  assert.equal(await mutations(a), mutationsBefore, 'and rewrites no part');
  assert.deepEqual(await ttls(a), expected(second));
});

test('rows past a table\'s retention go at the next TTL merge; those inside it stay', async () => {
  const a = await testAnalytics();
  await migrate(a, { retention: second });
  const now = Date.now();
  const detection = (id: string, ts: number) => ({ id, ts, ip: '::ffff:203.0.113.7', rule: 'retention-test', severity: 'low', score: 1, window_start: ts, window_end: ts, evidence: {}, action: 'flag', log_epoch: 't', kafka_partition: 0, kafka_offset: 0 });
  await a.client.insert({ table: 'detections', format: 'JSONEachRow', values: [detection('old', now - 50 * DAY), detection('recent', now - 10 * DAY)] });
  await a.client.command({ query: 'OPTIMIZE TABLE detections FINAL' });
  const ids = await (await a.client.query({ query: "SELECT id FROM detections WHERE rule = 'retention-test' ORDER BY id", format: 'JSONEachRow' })).json<{ id: string }>();
  assert.deepEqual(ids.map((r) => r.id), ['recent'], 'the 50-day-old detection is past its 42 days');
});

async function mutations(a: Analytics): Promise<number> {
  const [row] = await (await a.client.query({ query: 'SELECT count() AS n FROM system.mutations WHERE database = currentDatabase()', format: 'JSONEachRow' })).json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}
