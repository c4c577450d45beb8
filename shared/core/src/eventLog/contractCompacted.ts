/**
 * The event-log contract, state and dead letters: readCompacted (the latest value per key,
 * tombstones, following, ready at once on an empty topic) and sendToDlq.
 *
 * @example
 * describe('EventLog contract: kafka', () => compactedAndDlqContract(withLog));
 */
import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import type { LogMessage, OutgoingMessage } from '../eventLog.ts';
import { TOPICS, topicSpecs } from '../topics.ts';
import { TEST_TIMEOUT_MS, unique, waitFor, within, type WithLog } from './contractSupport.ts';
import { DLQ_HEADERS, sendToDlq } from './dlq.ts';

export function compactedAndDlqContract(withLog: WithLog): void {
  test('readCompacted gives the latest value per key, applies tombstones, and follows', () =>
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
    }), TEST_TIMEOUT_MS,
  );

  test('readCompacted is ready at once on an empty topic', () =>
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
    }), TEST_TIMEOUT_MS,
  );

  test('sendToDlq keeps key, bytes and headers and adds the error and the source', () =>
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
    }), TEST_TIMEOUT_MS,
  );
}
