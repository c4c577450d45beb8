import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { blockMessage, allowMessage, removalMessage } from '@ipwatch/core/decisions';
import { TOPICS } from '@ipwatch/core/topics';
import type { ListEntry, ListName, SharedLists } from '@ipwatch/core/sharedLists';
import type { BlockDecision } from '@ipwatch/core/schemas';
import { createBlocksync } from './blocksync.ts';

const decision = (target: string, expiresAt: number | null = null): BlockDecision => ({
  target, reason: 'test', source: 'manual', severity: 'medium', createdAt: 1, expiresAt, createdBy: 'me',
});

async function listed(lists: SharedLists, list: ListName): Promise<string[]> {
  const all: ListEntry[] = [];
  await lists.scan(list, (batch) => all.push(...batch));
  return all.map((e) => e.target).sort();
}

async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('blocksync writes what the topics hold once it has read them to the end, then follows changes', async () => {
  const log = createMemoryEventLog();
  const lists = createMemorySharedLists();
  const warnings: string[] = [];
  await log.produce(TOPICS.blocks, [
    blockMessage(decision('10.0.0.0/8')),
    blockMessage(decision('203.0.113.7')),
    blockMessage(decision('198.51.100.1', Date.now() - 1000)), // already over: not written
    removalMessage('203.0.113.7', 'me', 'mistake'),
  ]);
  await log.produce(TOPICS.allowlist, [allowMessage({ target: '10.1.2.3', reason: 'office', createdAt: 1, expiresAt: null, createdBy: 'me' })]);
  // a record that can never be applied: key and value disagree
  await log.produce(TOPICS.blocks, [{ key: '192.0.2.1', value: blockMessage(decision('192.0.2.2')).value }]);

  const sync = createBlocksync({ log, lists, metrics: createMetrics('blocksync-test'), warn: (m) => warnings.push(m) });
  assert.equal(sync.health().state, 'degraded');
  await sync.ready;
  assert.deepEqual(await listed(lists, 'blocks'), ['10.0.0.0/8']);
  assert.deepEqual(await listed(lists, 'allow'), ['10.1.2.3']);
  assert.equal(sync.health().state, 'ok');
  assert.ok(warnings.some((w) => w.includes('DLQ')));

  await log.produce(TOPICS.blocks, [blockMessage(decision('2001:db8::/32')), removalMessage('10.0.0.0/8', 'me', '')]);
  await eventually(async () => (await listed(lists, 'blocks')).join() === '2001:db8::/32');
  await sync.stop();
  await log.close();
});

test('a failed write makes the list dirty and it is rewritten whole once the store answers', async () => {
  const log = createMemoryEventLog();
  const inner = createMemorySharedLists();
  let down = false;
  const failing: SharedLists = {
    kind: 'memory',
    replace: (l, e) => (down ? Promise.reject(new Error('store down')) : inner.replace(l, e)),
    put: (l, e) => (down ? Promise.reject(new Error('store down')) : inner.put(l, e)),
    remove: (l, t) => (down ? Promise.reject(new Error('store down')) : inner.remove(l, t)),
    written: (l) => inner.written(l),
    scan: (l, f) => inner.scan(l, f),
    subscribe: (h) => inner.subscribe(h),
    close: () => inner.close(),
  };
  const sync = createBlocksync({ log, lists: failing, metrics: createMetrics('blocksync-test2'), warn: () => {}, retryMs: 10 });
  await sync.ready;
  down = true;
  await log.produce(TOPICS.blocks, [blockMessage(decision('203.0.113.9'))]);
  await eventually(async () => sync.state().blocks.dirty);
  assert.equal(sync.health().state, 'degraded');
  await log.produce(TOPICS.blocks, [blockMessage(decision('203.0.113.10'))]);
  down = false;
  await eventually(async () => (await listed(inner, 'blocks')).length === 2);
  await eventually(async () => sync.health().state === 'ok');
  await sync.stop();
  await log.close();
});

test('expired entries are swept from the store; a new block of the same target is written again', async () => {
  const log = createMemoryEventLog();
  const lists = createMemorySharedLists();
  let clock = Date.now();
  const sync = createBlocksync({ log, lists, metrics: createMetrics('blocksync-test3'), warn: () => {}, sweepMs: 20, now: () => clock });
  await sync.ready;
  await log.produce(TOPICS.blocks, [blockMessage(decision('203.0.113.50', clock + 1000)), blockMessage(decision('203.0.113.51'))]);
  await eventually(async () => (await listed(lists, 'blocks')).length === 2);
  clock += 2000;
  await eventually(async () => (await listed(lists, 'blocks')).join() === '203.0.113.51');
  assert.equal(sync.state().blocks.entries, 2, 'the topic still holds it');
  await log.produce(TOPICS.blocks, [blockMessage(decision('203.0.113.50', clock + 60_000))]);
  await eventually(async () => (await listed(lists, 'blocks')).length === 2);
  await sync.stop();
  await log.close();
});

test('a store that lost the lists (restarted, evicted) gets them written whole again', async () => {
  const log = createMemoryEventLog();
  const inner = createMemorySharedLists();
  let forgotten = false;
  const forgetful: SharedLists = {
    kind: 'memory',
    replace: async (l, e) => {
      forgotten = false;
      await inner.replace(l, e);
    },
    put: (l, e) => inner.put(l, e),
    remove: (l, t) => inner.remove(l, t),
    written: async (l) => !forgotten && (await inner.written(l)),
    scan: (l, f) => (forgotten ? Promise.resolve() : inner.scan(l, f)),
    subscribe: (h) => inner.subscribe(h),
    close: () => inner.close(),
  };
  await log.produce(TOPICS.blocks, [blockMessage(decision('203.0.113.77'))]);
  const warnings: string[] = [];
  const sync = createBlocksync({ log, lists: forgetful, metrics: createMetrics('blocksync-test4'), warn: (m) => void warnings.push(m), checkMs: 20 });
  await sync.ready;
  forgotten = true;
  await eventually(async () => !forgotten);
  assert.deepEqual(await listed(inner, 'blocks'), ['203.0.113.77']);
  assert.ok(warnings.some((w) => /missing from the store/.test(w)));
  await sync.stop();
  await log.close();
});
