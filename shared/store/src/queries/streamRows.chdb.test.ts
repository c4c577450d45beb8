/** The sink's two queries on real chDB: an insert deduplicated when retried, and the look-up of stored offsets. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { loadMigrations } from '../migrate.ts';

const COLUMNS = ['id', 'ts', 'ip', 'rule', 'severity', 'score', 'window_start', 'window_end', 'evidence', 'action', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;

function detection(epoch: string, offset: number): unknown[] {
  const ts = Date.parse('2026-11-20T12:00:00Z') + offset;
  return [`d${offset}`, ts, '::ffff:203.0.113.9', 'scan', 'high', 0.9, ts - 60_000, ts, { paths: '12' }, 'none', epoch, 3, offset];
}

test('insertStreamRows then storedOffsets: offsets from `first` on, per epoch and partition; a retried insert is dropped', async () => {
  const analytics = await testAnalytics();
  const epoch = `epoch-${process.pid}-${Date.now()}`;
  const insert = { table: 'detections' as const, columns: COLUMNS, rows: [10, 11, 12].map((o) => detection(epoch, o)), deduplicationToken: `${epoch}:t:3:10-12` };
  await analytics.insertStreamRows(insert);
  await analytics.insertStreamRows(insert);

  assert.deepEqual([...(await analytics.storedOffsets({ table: 'detections', epoch, partition: 3, first: 11n }))].sort(), ['11', '12']);
  assert.equal((await analytics.storedOffsets({ table: 'detections', epoch, partition: 4, first: 0n })).size, 0);
  assert.equal((await analytics.storedOffsets({ table: 'detections', epoch: `${epoch}-other`, partition: 3, first: 0n })).size, 0);
  assert.equal((await analytics.storedOffsets({ table: 'detections', epoch, partition: 3, first: 0n })).size, 3, 'the retry added nothing');
});

test('a table name outside the stream tables never reaches the SQL', async () => {
  const analytics = await testAnalytics();
  const table = 'block_events; DROP TABLE requests' as 'detections';
  await assert.rejects(analytics.storedOffsets({ table, epoch: 'e', partition: 0, first: 0n }), /is not a stream table \(requests, rate_limit_events, detections\)/);
  await assert.rejects(analytics.insertStreamRows({ table, columns: ['id'], rows: [], deduplicationToken: 'x' }), /is not a stream table/);
});

test('countAppliedMigrations reads the ledger: every migration once migrated', async () => {
  const analytics = await testAnalytics();
  assert.equal(await analytics.countAppliedMigrations(), loadMigrations().length);
});
