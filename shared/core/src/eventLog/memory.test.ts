import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventLogContract } from './contract.ts';
import { createMemoryEventLog } from './memory.ts';

eventLogContract('memory', async () => createMemoryEventLog({ partitions: 2, retryBackoffMs: 20 }));

test('memory: a delete-policy topic drops what every group has committed', async () => {
  const log = createMemoryEventLog({ partitions: 1, retainCommitted: 0 });
  let handled = 0;
  const consumer = await log.consume({ groupId: 'g', topics: ['t'], maxBatchSize: 5000, handle: async (b) => void (handled += b.messages.length) });
  const batch = Array.from({ length: 10_000 }, (_, i) => ({ key: String(i % 100), value: Buffer.from('x') }));
  await log.produce('t', batch);
  while (handled < batch.length) await new Promise((r) => setTimeout(r, 5));
  await consumer.stop();
  // A new group starting from the beginning finds only what was produced after the trim.
  await log.produce('t', [{ key: 'late', value: Buffer.from('late') }]);
  const seen: string[] = [];
  const late = await log.consume({ groupId: 'g2', topics: ['t'], handle: async (b) => void seen.push(...b.messages.map((m) => m.offset)) });
  while (seen.length < 1) await new Promise((r) => setTimeout(r, 5));
  await late.stop();
  assert.deepEqual(seen, ['10000']);
  await log.close();
});

test('memory: moves tens of thousands of events a second through produce and one group', async () => {
  const log = createMemoryEventLog();
  await log.ensureTopics([{ name: 'bench', partitions: 6, config: { 'cleanup.policy': 'delete' } }]);
  const total = 200_000;
  let handled = 0;
  const consumer = await log.consume({ groupId: 'bench', topics: ['bench'], maxBatchSize: 1000, handle: async (b) => void (handled += b.messages.length) });
  const value = Buffer.alloc(200);
  const t0 = performance.now();
  for (let i = 0; i < total; i += 500) {
    await log.produce('bench', Array.from({ length: 500 }, (_, j) => ({ key: `10.0.${(i + j) % 256}.${j % 256}`, value })));
  }
  while (handled < total) await new Promise((r) => setImmediate(r));
  const perSecond = total / ((performance.now() - t0) / 1000);
  await consumer.stop();
  await log.close();
  assert.ok(perSecond > 50_000, `${Math.round(perSecond)} events/s`);
});

test('memory: batchWaitMs lets a small batch fill up before it is handed over, and no longer', async () => {
  const log = createMemoryEventLog();
  const batches: number[] = [];
  const consumer = await log.consume({ groupId: 'fill', topics: ['fill'], maxBatchSize: 100, batchWaitMs: 300, handle: async (b) => void batches.push(b.messages.length) });
  const msgs = (n: number) => Array.from({ length: n }, () => ({ key: 'k', value: Buffer.from('x') }));
  const t0 = Date.now();
  await log.produce('fill', msgs(10));
  await new Promise((r) => setTimeout(r, 100));
  await log.produce('fill', msgs(10));
  while (batches.length < 1) await new Promise((r) => setTimeout(r, 5));
  const waited = Date.now() - t0;
  assert.deepEqual(batches, [20], 'the two produces arrived as one batch');
  assert.ok(waited >= 280 && waited < 1000, `handed over after about batchWaitMs (${waited} ms)`);
  await log.produce('fill', msgs(150));
  while (batches.length < 2) await new Promise((r) => setTimeout(r, 5));
  assert.equal(batches[1], 100, 'a full batch goes at once');
  await consumer.stop();
  await log.close();
});

test('memory: each log is a new offset space (it starts at 0 again), so its epoch differs', async () => {
  const a = createMemoryEventLog();
  const b = createMemoryEventLog();
  assert.notEqual(await a.epoch(), await b.epoch());
});
