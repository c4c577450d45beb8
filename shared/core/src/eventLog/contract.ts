/**
 * The contract every EventLog adapter passes (ARCHITECTURE.md: "each adapter passes the same
 * contract tests"). Run it from a test file beside the adapter:
 *
 * @example
 * eventLogContract('memory', async () => createMemoryEventLog());
 *
 * `make` is called once per test and must return a fresh client (the test closes it); two
 * clients made for one test must see the same log, so for the in-process adapter each
 * test keeps to the one log it made.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { EventLog, LogBatch, LogMessage, OutgoingMessage } from '../eventLog.ts';
import { TOPICS, topicSpecs } from '../topics.ts';
import { DLQ_HEADERS, sendToDlq } from './dlq.ts';

const TEST_TIMEOUT_MS = 30_000;

export function eventLogContract(name: string, make: () => Promise<EventLog>): void {
  const withLog = async (fn: (log: EventLog) => Promise<void>): Promise<void> => {
    const log = await make();
    try {
      await fn(log);
    } finally {
      await log.close();
    }
  };

  describe(`EventLog contract: ${name}`, () => {
    test('epoch names the offset space: non-empty and stable for one log', { timeout: TEST_TIMEOUT_MS }, () =>
      withLog(async (log) => {
        const a = await log.epoch();
        assert.ok(a.length > 0);
        assert.equal(await log.epoch(), a);
      }),
    );

    test('a group sees every message, in order per key, in batches of one partition', { timeout: TEST_TIMEOUT_MS }, () =>
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
      }),
    );

    test('a second consumer of the group starts where the first committed', { timeout: TEST_TIMEOUT_MS }, () =>
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
      }),
    );

    test('a failed batch is offered again, whole, and never committed', { timeout: TEST_TIMEOUT_MS }, () =>
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
      }),
    );

    test('two groups each see every message', { timeout: TEST_TIMEOUT_MS }, () =>
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
      }),
    );

    test('readCompacted gives the latest value per key, applies tombstones, and follows', { timeout: TEST_TIMEOUT_MS }, () =>
      withLog(async (log) => {
        const topic = unique('contract-compacted');
        await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' } }]);
        const put = (key: string, value: string | null): OutgoingMessage => ({ key, value: value === null ? null : Buffer.from(value) });
        await log.produce(topic, [put('10.0.0.1', 'v1'), put('10.0.0.2', 'v1'), put('10.0.0.1', 'v2'), put('10.0.0.3', 'v1')]);
        await log.produce(topic, [put('10.0.0.2', null)]);

        const state = new Map<string, string>();
        const apply = (m: LogMessage): void => {
          assert.ok(m.key !== null);
          if (m.value === null) state.delete(m.key);
          else state.set(m.key, m.value.toString());
        };
        const reader = await log.readCompacted(topic, { onMessage: apply });
        try {
          await within(reader.ready, 20_000, 'ready');
          assert.deepEqual(Object.fromEntries(state), { '10.0.0.1': 'v2', '10.0.0.3': 'v1' });

          await log.produce(topic, [put('10.0.0.3', null), put('10.0.0.4', 'v1')]);
          await waitFor(() => !state.has('10.0.0.3') && state.get('10.0.0.4') === 'v1', 'the reader to follow new records', () => JSON.stringify(Object.fromEntries(state)));
          assert.deepEqual(Object.fromEntries(state), { '10.0.0.1': 'v2', '10.0.0.4': 'v1' });
        } finally {
          await reader.stop();
        }

        // Without follow: the snapshot, then the reader ends by itself.
        const once = new Map<string, string>();
        const snapshot = await log.readCompacted(topic, {
          follow: false,
          onMessage: (m) => {
            if (m.value === null) once.delete(m.key ?? '');
            else once.set(m.key ?? '', m.value.toString());
          },
        });
        await within(snapshot.ready, 20_000, 'snapshot ready');
        assert.deepEqual(Object.fromEntries(once), { '10.0.0.1': 'v2', '10.0.0.4': 'v1' });
        await snapshot.stop();
      }),
    );

    test('readCompacted is ready at once on an empty topic', { timeout: TEST_TIMEOUT_MS }, () =>
      withLog(async (log) => {
        const topic = unique('contract-empty');
        await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'compact' } }]);
        const seen: LogMessage[] = [];
        const reader = await log.readCompacted(topic, { onMessage: (m) => seen.push(m) });
        try {
          await within(reader.ready, 10_000, 'ready on an empty topic');
          assert.equal(seen.length, 0);
          // Still follows what comes after.
          await log.produce(topic, [{ key: 'r1', value: Buffer.from('rule') }]);
          await waitFor(() => seen.length === 1, 'the first record after ready');
        } finally {
          await reader.stop();
        }
      }),
    );

    test('sendToDlq keeps key, bytes and headers and adds the error and the source', { timeout: TEST_TIMEOUT_MS }, () =>
      withLog(async (log) => {
        const topic = unique('contract-dlq-src');
        const dlqSpec = topicSpecs(1).find((s) => s.name === TOPICS.dlq);
        assert.ok(dlqSpec);
        await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'delete' } }, dlqSpec]);
        const key = unique('203.0.113.9');
        const value = Buffer.from([0, 1, 2, 250, 255]);
        await log.produce(topic, [{ key, value, headers: { 'ipwatch-schema': 'RequestEvent' } }]);

        let source: LogMessage | undefined;
        const src = await log.consume({
          groupId: unique('g-dlq-src'),
          topics: [topic],
          handle: async (batch) => {
            for (const m of batch.messages) {
              await sendToDlq(log, m, new Error(`cannot decode: ${'x'.repeat(2000)}`));
              source = m;
            }
          },
        });
        await waitFor(() => source !== undefined, 'the source message to be handled');
        await src.stop();

        let dead: LogMessage | undefined;
        const dlq = await log.consume({
          groupId: unique('g-dlq'),
          topics: [TOPICS.dlq],
          handle: async (batch) => {
            dead ??= batch.messages.find((m) => m.key === key);
          },
        });
        try {
          await waitFor(() => dead !== undefined, 'the message on the DLQ');
          assert.ok(dead && source);
          assert.deepEqual(dead.value, value);
          assert.equal(dead.headers['ipwatch-schema'], 'RequestEvent', 'original headers are kept');
          const error = dead.headers[DLQ_HEADERS.error] ?? '';
          assert.ok(error.startsWith('Error: cannot decode: xxx'), error.slice(0, 60));
          assert.ok(error.length <= 1000, `error header bounded, was ${error.length}`);
          assert.equal(dead.headers[DLQ_HEADERS.sourceTopic], topic);
          assert.equal(dead.headers[DLQ_HEADERS.sourcePartition], String(source.partition));
          assert.equal(dead.headers[DLQ_HEADERS.sourceOffset], source.offset);
          assert.ok(!Number.isNaN(Date.parse(dead.headers[DLQ_HEADERS.failedAt] ?? '')), 'failed-at is a date');
        } finally {
          await dlq.stop();
        }
      }),
    );

    test('stop() finishes the batch in hand, commits it, and is idempotent', { timeout: TEST_TIMEOUT_MS }, () =>
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
      }),
    );
  });
}

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** `perKey` messages for each key, interleaved, values `<tag>-<key>-<i>`; the key 'null-key' is sent with a null key. */
function numbered(keys: string[], perKey: number, tag = 'm'): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (let i = 0; i < perKey; i++) {
    for (const key of keys) {
      out.push({ key: key === 'null-key' ? null : key, value: Buffer.from(`${tag}-${key}-${i}`), headers: { seq: String(i) } });
    }
  }
  return out;
}

function collector(): { messages: LogMessage[]; batches: LogBatch[]; handle: (b: LogBatch) => Promise<void> } {
  const messages: LogMessage[] = [];
  const batches: LogBatch[] = [];
  return {
    messages,
    batches,
    handle: async (batch) => {
      batches.push(batch);
      messages.push(...batch.messages);
    },
  };
}

function sortedValues(messages: Array<OutgoingMessage | LogMessage>): string[] {
  return messages.map((m) => m.value?.toString() ?? '<null>').sort();
}

async function waitFor(cond: () => boolean, what: string, detail?: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? ` (${detail()})` : ''}`);
    await sleep(20);
  }
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Gives a wrong extra delivery time to show up before the test asserts there was none. */
function settle(): Promise<void> {
  return sleep(300);
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

