import assert from 'node:assert/strict';
import { test } from '@jest/globals';
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

test('memory: 200,000 events through produce and one group, every one handed to the group', async () => {
  const log = createMemoryEventLog();
  await log.ensureTopics([{ name: 'bench', partitions: 6, config: { 'cleanup.policy': 'delete' } }]);
  const total = 200_000;
  let handled = 0;
  const consumer = await log.consume({ groupId: 'bench', topics: ['bench'], maxBatchSize: 1000, handle: async (b) => void (handled += b.messages.length) });
  const value = Buffer.alloc(200);
  for (let i = 0; i < total; i += 500) {
    await log.produce('bench', Array.from({ length: 500 }, (_, j) => ({ key: `10.0.${(i + j) % 256}.${j % 256}`, value })));
  }
  while (handled < total) await new Promise((r) => setImmediate(r));
  await consumer.stop();
  await log.close();
  assert.equal(handled, total);
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

test('compacted topics persist across a restart when persistDir is set; streams do not', async () => {
  const { mkdtempSync, rmSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { TOPICS } = await import('../topics.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ipwatch-memlog-'));
  try {
    const first = createMemoryEventLog({ persistDir: dir });
    await first.produce(TOPICS.blocks, [
      { key: '10.0.0.0/8', value: Buffer.from('a') },
      { key: '1.2.3.4', value: Buffer.from('b') },
      { key: '10.0.0.0/8', value: Buffer.from('c') },
    ]);
    await first.produce(TOPICS.blocks, [{ key: '1.2.3.4', value: null, headers: { actor: 'x' } }]);
    await first.produce(TOPICS.requests, [{ key: '1.2.3.4', value: Buffer.from('stream') }]);
    await first.close();
    // a crash mid-append leaves half a line at the end: it is ignored
    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(dir, `${encodeURIComponent(TOPICS.blocks)}.jsonl`), '{"p":0,"k":"9.9.9');

    const second = createMemoryEventLog({ persistDir: dir });
    const seen: Array<[string | null, string | null]> = [];
    const reader = await second.readCompacted(TOPICS.blocks, { follow: false, onMessage: (m) => seen.push([m.key, m.value?.toString() ?? null]) });
    await reader.ready;
    // the latest record per key, the unblock (tombstone) included, as a compacted Kafka topic gives it
    assert.deepEqual(seen, [['10.0.0.0/8', 'c'], ['1.2.3.4', null]]);
    // the file was rewritten compacted, without the tombstone: one line
    assert.equal(readFileSync(join(dir, `${encodeURIComponent(TOPICS.blocks)}.jsonl`), 'utf8').trim().split('\n').length, 1);
    const streamSeen: string[] = [];
    const r2 = await second.readCompacted(TOPICS.requests, { follow: false, onMessage: (m) => streamSeen.push(String(m.value)) });
    await r2.ready;
    assert.deepEqual(streamSeen, []);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memory: readRange starts at the first record appended at or after sinceMs, yields on long reads, and stops when the log closes', async () => {
  let clock = 1000;
  const log = createMemoryEventLog({ now: () => clock });
  await log.produce('times', [{ key: 'a', value: Buffer.from('t1000') }]);
  clock = 3000;
  await log.produce('times', [{ key: 'a', value: Buffer.from('t3000') }]);
  clock = 1500; // a clock that went back: Kafka too gives everything after the first match
  await log.produce('times', [{ key: 'a', value: Buffer.from('t1500') }]);
  const seen: string[] = [];
  const r = await log.readRange('times', { sinceMs: 2000, onMessage: (m) => void seen.push(`${m.value}@${m.timestamp}`) });
  assert.deepEqual(seen, ['t3000@3000', 't1500@1500']);
  assert.deepEqual([...r.ends], [[0, 3n]]);

  const total = 25_000;
  await log.produce('long', Array.from({ length: total }, (_, i) => ({ key: null, value: Buffer.from(String(i)) })));
  let next = 0;
  let inOrder = true;
  let otherWorkRan = false;
  let readAfterOtherWork = false;
  setImmediate(() => (otherWorkRan = true));
  const long = await log.readRange('long', {
    sinceMs: 0,
    onMessage: (m) => {
      inOrder &&= m.offset === String(next++);
      readAfterOtherWork ||= otherWorkRan;
    },
  });
  assert.equal(long.records, total);
  assert.ok(inOrder && next === total, 'every offset, in order');
  assert.ok(readAfterOtherWork, 'the read let other work run before it finished');

  const cut = log.readRange('long', { sinceMs: 0, onMessage: () => undefined });
  await log.close();
  await assert.rejects(cut, /the event log was closed/);
});
