import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { codecs, type EnrichedRequest } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import type { EventLog, LogMessage } from '@ipwatch/core/eventLog';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { createClickhouseSink } from './clickhouseSink.ts';

function enriched(i: number, app: string, ip = '203.0.113.7'): EnrichedRequest {
  return {
    request: {
      id: `${app}-${i}`, ts: Date.now(), ip, ipAnonymisation: 'off', app, instance: 'test', method: 'GET', host: 'h',
      path: `/r/${i}`, status: 200, latencyMs: 2, bytes: 1, userAgent: 'ua', referer: '', userId: null,
      authenticated: false, blocked: false, rateLimited: false,
    },
    geo: { country: 'US', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source: 'none' },
    enrichedAt: Date.now(),
  };
}

async function produce(log: EventLog, app: string, from: number, to: number) {
  const messages = [];
  for (let i = from; i < to; i++) messages.push({ key: '203.0.113.7', value: codecs.EnrichedRequest.encode(enriched(i, app)) });
  await log.produce(TOPICS.enriched, messages);
}

async function rowsOf(app: string): Promise<{ n: number; distinct: number; rollup: number }> {
  const analytics = await testAnalytics();
  const rs = await analytics.client.query({
    query: `SELECT count() AS n, uniqExact(event_id) AS distinct,
                   (SELECT sum(requests) FROM requests_per_minute WHERE app = {app:String}) AS rollup
            FROM requests WHERE app = {app:String}`,
    query_params: { app },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const [row] = await rs.json<{ n: number; distinct: number; rollup: number }>();
  return { n: Number(row!.n), distinct: Number(row!.distinct), rollup: Number(row!.rollup) };
}

async function until(cond: () => Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('stores every event once, and a crash between insert and commit adds nothing on replay', async () => {
  const analytics = await testAnalytics();
  const log = createMemoryEventLog({ retryBackoffMs: 10 });
  const app = 'sink-replay';
  await produce(log, app, 0, 300);

  // First life: inserts the batch, then "crashes" before the commit.
  let crashed = false;
  const first = createClickhouseSink({
    log, analytics, metrics: createMetrics('sink'), batchSize: 1000, flushMs: 20, groupId: 'g-replay',
    // A process that dies after its insert never commits: fail every attempt.
    onInserted: () => {
      crashed = true;
      throw new Error('simulated crash after insert');
    },
  });
  await first.start();
  await until(async () => crashed);
  await first.stop();
  assert.equal((await rowsOf(app)).n, 300, 'the insert landed before the crash');

  // Second life, same group, a fresh process state: the batch comes again, cut differently
  // (with 50 more behind it), and this life too crashes right after its insert.
  await produce(log, app, 300, 350);
  let crashedAgain = false;
  const second = createClickhouseSink({
    log, analytics, metrics: createMetrics('sink'), batchSize: 1000, flushMs: 20, groupId: 'g-replay',
    onInserted: (_t, _topic, _p, _range, rows) => {
      if (rows > 0) crashedAgain = true;
      throw new Error('simulated crash after the second insert');
    },
  });
  await second.start();
  await until(async () => crashedAgain);
  await second.stop();

  // Third life: everything is stored already; nothing may be added.
  const third = createClickhouseSink({ log, analytics, metrics: createMetrics('sink'), batchSize: 1000, flushMs: 20, groupId: 'g-replay' });
  await third.start();
  await new Promise((r) => setTimeout(r, 300));
  await third.stop();
  assert.deepEqual(await rowsOf(app), { n: 350, distinct: 350, rollup: 350 }, 'no duplicate rows, and the rollup counted each once');
});

test('a restarted in-process log starts at offset 0 again: its events are new, not replays', async () => {
  const analytics = await testAnalytics();
  const app = 'sink-epoch';
  for (let life = 0; life < 2; life++) {
    const log = createMemoryEventLog(); // as after a restart of `ipwatch dev`: same chDB, offsets from 0
    await produce(log, app, life * 100, life * 100 + 100);
    const sink = createClickhouseSink({ log, analytics, metrics: createMetrics('sink'), batchSize: 1000, flushMs: 20 });
    await sink.start();
    await until(async () => (await rowsOf(app)).n === (life + 1) * 100);
    await sink.stop();
  }
  assert.deepEqual(await rowsOf(app), { n: 200, distinct: 200, rollup: 200 });
});

test('undecodable messages and invalid IPs go to the DLQ; the rest is stored', async () => {
  const analytics = await testAnalytics();
  const log = createMemoryEventLog();
  const app = 'sink-dlq';
  await log.produce(TOPICS.enriched, [
    { key: 'x', value: Buffer.from('not avro at all') },
    { key: '203.0.113.7', value: codecs.EnrichedRequest.encode(enriched(1, app)) },
    { key: 'bad', value: codecs.EnrichedRequest.encode(enriched(2, app, 'not-an-ip')) },
    { key: '203.0.113.7', value: codecs.EnrichedRequest.encode(enriched(3, app)) },
  ]);
  const dead: LogMessage[] = [];
  const dlqReader = await log.consume({ groupId: 'dlq-reader', topics: [TOPICS.dlq], handle: async (b) => void dead.push(...b.messages) });
  const sink = createClickhouseSink({ log, analytics, metrics: createMetrics('sink'), batchSize: 1000, flushMs: 20, groupId: 'g-dlq' });
  await sink.start();
  await until(async () => (await rowsOf(app)).n === 2 && dead.length === 2);
  await sink.stop();
  await dlqReader.stop();
  assert.equal(dead[0]!.value!.toString(), 'not avro at all');
  assert.match(dead[0]!.headers['ipwatch-error'] ?? '', /not a valid EnrichedRequest/);
  assert.match(dead[1]!.headers['ipwatch-error'] ?? '', /not an IP address/);
  assert.equal(dead[1]!.headers['ipwatch-source-topic'], TOPICS.enriched);
});
