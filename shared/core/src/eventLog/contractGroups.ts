/**
 * The event-log contract, consumer groups: every message to a group in order per key, in
 * batches of one partition; commits that a later member starts from; a failed batch offered
 * again whole and never committed; independent groups; a stop that finishes its batch.
 *
 * @example
 * describe('EventLog contract: memory', () => consumerGroupContract(withLog));
 */
import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import type { LogMessage } from '../eventLog.ts';
import { collector, numbered, settle, sleep, sortedValues, TEST_TIMEOUT_MS, unique, waitFor, within, type WithLog } from './contractSupport.ts';

export function consumerGroupContract(withLog: WithLog): void {
  test('a group sees every message, in order per key, in batches of one partition', () =>
    withLog(async (log) => {
      const topic = unique('contract-order');
      await log.ensureTopics([{ name: topic, partitions: 3, config: { 'cleanup.policy': 'delete' } }]);
      const keys = ['10.0.0.1', '10.0.0.2', '2001:db8::1', '198.51.100.9', '203.0.113.5', 'null-key'];
      const sent = numbered(keys, 10);
      await log.produce(topic, sent.slice(0, 25));
      await log.produce(topic, sent.slice(25));

      const seen = collector();
      const consumer = await log.consume({ groupId: unique('g-order'), topics: [topic], maxBatchSize: 7, handle: seen.handle });
      try {
        await waitFor(() => seen.messages.length >= sent.length, `all ${sent.length} messages`, () => `${seen.messages.length} seen`);
        assert.equal(seen.messages.length, sent.length, 'no message twice');
        for (const b of seen.batches) {
          assert.ok(b.messages.length >= 1 && b.messages.length <= 7, `batch of ${b.messages.length} within maxBatchSize 7`);
          for (const m of b.messages) {
            assert.equal(m.topic, b.topic);
            assert.equal(m.partition, b.partition);
          }
          const offsets = b.messages.map((m) => BigInt(m.offset));
          for (let i = 1; i < offsets.length; i++) assert.ok((offsets[i] as bigint) > (offsets[i - 1] as bigint), 'offsets ascend within a batch');
        }
        assert.equal(seen.messages.filter((m) => m.key === null).length, sent.filter((m) => m.key === null).length, 'null-key messages arrive too');
        for (const key of keys.filter((k) => k !== 'null-key')) {
          const values = seen.messages.filter((m) => m.key === key).map((m) => m.value?.toString());
          assert.deepEqual(values, sent.filter((m) => m.key === key).map((m) => m.value?.toString()), `order of ${key}`);
          assert.equal(new Set(seen.messages.filter((m) => m.key === key).map((m) => m.partition)).size, 1, `${key} stays on one partition`);
        }
        const first = seen.messages.find((m) => m.key === keys[0]);
        assert.equal(first?.headers['seq'], '0', 'headers travel with the message');
        assert.ok(typeof first?.timestamp === 'number' && first.timestamp > 0);
        await waitFor(() => consumer.status().lag === 0 && consumer.status().lastCommitAt > 0, 'lag 0 after the last commit', () => JSON.stringify(consumer.status()));
        const status = consumer.status();
        assert.equal(status.running, true);
        assert.equal(status.failures, 0);
        assert.ok(status.lastPollAt > 0);
      } finally {
        await consumer.stop();
      }
    }), TEST_TIMEOUT_MS,
  );

  test('concurrency: batches of different partitions are handled at the same time, never two of one partition', () =>
    withLog(async (log) => {
      const topic = unique('contract-concurrency');
      await log.ensureTopics([{ name: topic, partitions: 2, config: { 'cleanup.policy': 'delete' } }]);
      // Twenty keys: both partitions hold some (all on one: odds of 1 in 500,000).
      await log.produce(topic, Array.from({ length: 20 }, (_, i) => ({ key: `10.0.1.${i}`, value: Buffer.from(String(i)) })));
      const partitions = new Set<number>();
      let inFlight = 0;
      let most = 0;
      const busy = new Set<number>();
      let overlapped = false;
      const seen: LogMessage[] = [];
      // Each handler waits (up to 5 s) until two are in flight: with one lane it would time out alone.
      const consumer = await log.consume({
        groupId: unique('g-concurrency'),
        topics: [topic],
        concurrency: 2,
        handle: async (batch) => {
          if (busy.has(batch.partition)) overlapped = true;
          busy.add(batch.partition);
          inFlight++;
          most = Math.max(most, inFlight);
          const until = Date.now() + 5000;
          while (most < 2 && Date.now() < until) await sleep(20);
          inFlight--;
          busy.delete(batch.partition);
          partitions.add(batch.partition);
          seen.push(...batch.messages);
        },
      });
      try {
        await waitFor(() => seen.length >= 20, 'every message handled');
        assert.equal(partitions.size, 2);
        assert.equal(most, 2, 'the two partitions were handled at once');
        assert.equal(overlapped, false, 'never two batches of one partition at once');
      } finally {
        await consumer.stop();
      }
    }), TEST_TIMEOUT_MS,
  );

  test('committedOffsets says where a group will go on, per partition; nothing for a group that never committed', () =>
    withLog(async (log) => {
      const topic = unique('contract-committed');
      await log.ensureTopics([{ name: topic, partitions: 2, config: { 'cleanup.policy': 'delete' } }]);
      const sent = numbered(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'], 5);
      await log.produce(topic, sent);
      const group = unique('g-committed');
      assert.equal((await log.committedOffsets(group, topic)).size, 0);
      const seen = collector();
      const consumer = await log.consume({ groupId: group, topics: [topic], handle: seen.handle });
      try {
        await waitFor(() => seen.messages.length >= sent.length && consumer.status().lag === 0, 'all consumed and committed');
      } finally {
        await consumer.stop();
      }
      const committed = await log.committedOffsets(group, topic);
      const ends = new Map<number, bigint>();
      for (const m of seen.messages) ends.set(m.partition, (ends.get(m.partition) ?? -1n) < BigInt(m.offset) + 1n ? BigInt(m.offset) + 1n : (ends.get(m.partition) as bigint));
      assert.deepEqual([...committed].sort(), [...ends].sort(), 'one past the last message of each partition');
      assert.equal((await log.committedOffsets(group, unique('contract-no-topic'))).size, 0);
    }), TEST_TIMEOUT_MS,
  );

  test('a second consumer of the group starts where the first committed', () =>
    withLog(async (log) => {
      const topic = unique('contract-resume');
      await log.ensureTopics([{ name: topic, partitions: 2, config: { 'cleanup.policy': 'delete' } }]);
      const groupId = unique('g-resume');
      const before = numbered(['a', 'b', 'c'], 4);
      await log.produce(topic, before);

      const first = collector();
      const c1 = await log.consume({ groupId, topics: [topic], handle: first.handle });
      await waitFor(() => first.messages.length >= before.length, 'the first consumer to read everything');
      await c1.stop();
      assert.equal(c1.status().running, false);

      const after = numbered(['a', 'b', 'c'], 2, 'after');
      await log.produce(topic, after);
      const second = collector();
      const c2 = await log.consume({ groupId, topics: [topic], handle: second.handle });
      try {
        await waitFor(() => second.messages.length >= after.length, 'the second consumer to read the new messages');
        await settle();
        assert.deepEqual(sortedValues(second.messages), sortedValues(after), 'only what the first did not commit');
      } finally {
        await c2.stop();
      }
    }), TEST_TIMEOUT_MS,
  );

  test('a failed batch is offered again, whole, and never committed', () =>
    withLog(async (log) => {
      const topic = unique('contract-retry');
      await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'delete' } }]);
      const sent = numbered(['k1', 'k2'], 3);
      await log.produce(topic, sent);

      // 1) Throws once: the next attempt is the same batch, then everything is handled once more.
      const attempts: string[][] = [];
      const errors: unknown[] = [];
      let thrown = false;
      const handled: LogMessage[] = [];
      const c1 = await log.consume({
        groupId: unique('g-retry'),
        topics: [topic],
        maxBatchSize: 100,
        handle: async (batch) => {
          attempts.push(batch.messages.map((m) => m.offset));
          if (!thrown) {
            thrown = true;
            throw new Error('transient');
          }
          handled.push(...batch.messages);
        },
        onError: (err) => errors.push(err),
      });
      try {
        await waitFor(() => handled.length >= sent.length, 'the retried batch to succeed');
        assert.equal(errors.length, 1);
        assert.equal((errors[0] as Error).message, 'transient');
        assert.ok(attempts.length >= 2);
        assert.deepEqual(attempts[1], attempts[0], 'the retry is the same batch');
        assert.deepEqual(sortedValues(handled), sortedValues(sent), 'nothing skipped, nothing twice');
        await waitFor(() => c1.status().failures === 0 && c1.status().lastCommitAt > 0, 'failures to reset after success');
      } finally {
        await c1.stop();
      }

      // 2) Always throws: stop while it fails, then the same group must start again at offset 0.
      const groupId = unique('g-fail');
      let failed = 0;
      const c2 = await log.consume({
        groupId,
        topics: [topic],
        handle: async () => {
          failed++;
          throw new Error('still failing');
        },
      });
      await waitFor(() => failed >= 2, 'two failed attempts');
      assert.ok(c2.status().failures >= 1);
      assert.equal(c2.status().lastCommitAt, 0, 'nothing committed');
      const stopStarted = Date.now();
      await c2.stop();
      assert.ok(Date.now() - stopStarted < 10_000, 'stop does not wait out the retries');

      const again = collector();
      const c3 = await log.consume({ groupId, topics: [topic], handle: again.handle });
      try {
        await waitFor(() => again.messages.length >= sent.length, 'the same group to read everything again');
        assert.equal(again.messages[0]?.offset, '0', 'the group starts at the first message: nothing was committed');
        assert.deepEqual(sortedValues(again.messages), sortedValues(sent));
      } finally {
        await c3.stop();
      }
    }), TEST_TIMEOUT_MS,
  );

  test('two groups each see every message', () =>
    withLog(async (log) => {
      const topic = unique('contract-groups');
      await log.ensureTopics([{ name: topic, partitions: 2, config: { 'cleanup.policy': 'delete' } }]);
      const sent = numbered(['x', 'y', 'z'], 5);
      await log.produce(topic, sent);
      const a = collector();
      const b = collector();
      const ca = await log.consume({ groupId: unique('g-a'), topics: [topic], handle: a.handle });
      const cb = await log.consume({ groupId: unique('g-b'), topics: [topic], handle: b.handle });
      try {
        await waitFor(() => a.messages.length >= sent.length && b.messages.length >= sent.length, 'both groups to read everything');
        await settle();
        assert.deepEqual(sortedValues(a.messages), sortedValues(sent));
        assert.deepEqual(sortedValues(b.messages), sortedValues(sent));
      } finally {
        await Promise.all([ca.stop(), cb.stop()]);
      }
    }), TEST_TIMEOUT_MS,
  );

  test('stop() finishes the batch in hand, commits it, and is idempotent', () =>
    withLog(async (log) => {
      const topic = unique('contract-stop');
      await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'delete' } }]);
      const groupId = unique('g-stop');

      // Idle consumer: stop returns promptly.
      const idle = await log.consume({ groupId, topics: [topic], handle: async () => undefined });
      const t0 = Date.now();
      await idle.stop();
      await idle.stop();
      assert.ok(Date.now() - t0 < 10_000, `idle stop took ${Date.now() - t0} ms`);
      assert.equal(idle.status().running, false);

      // Slow handler: stop waits for it and the batch counts as done.
      const sent = numbered(['s'], 3);
      await log.produce(topic, sent);
      let entered!: () => void;
      const inHandle = new Promise<void>((res) => {
        entered = res;
      });
      let finished = 0;
      const slow = await log.consume({
        groupId,
        topics: [topic],
        maxBatchSize: 100,
        handle: async (batch) => {
          entered();
          await sleep(300);
          finished += batch.messages.length;
        },
      });
      await within(inHandle, 20_000, 'the slow handler to start');
      await slow.stop();
      assert.equal(finished, sent.length, 'the batch in hand was finished');

      const after = collector();
      await log.produce(topic, numbered(['s'], 1, 'late'));
      const next = await log.consume({ groupId, topics: [topic], handle: after.handle });
      try {
        await waitFor(() => after.messages.length >= 1, 'the message produced after stop');
        await settle();
        assert.deepEqual(sortedValues(after.messages), ['late-s-0'], 'the finished batch was committed');
      } finally {
        await next.stop();
      }
    }), TEST_TIMEOUT_MS,
  );
}
