/**
 * The event-log contract, range reads: readRange delivers every record from sinceMs up to the
 * ends taken when it started, in order per partition, tombstones included; it keeps to the
 * partitions asked for, and reads nothing (without failing) from a missing or empty topic or
 * past the last record.
 *
 * @example
 * describe('EventLog contract: kafka', () => rangeReadContract(withLog));
 */
import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import type { LogMessage, OutgoingMessage } from '../eventLog.ts';
import { numbered, settle, sleep, sortedValues, TEST_TIMEOUT_MS, unique, within, type WithLog } from './contractSupport.ts';

const KEYS = ['10.0.0.1', '10.0.0.2', '2001:db8::1', '198.51.100.9', '203.0.113.5', 'null-key'];
const DELETE = { 'cleanup.policy': 'delete' };

/** Per partition, one past the highest offset among `messages`. */
function endsOf(messages: LogMessage[]): Map<number, bigint> {
  const ends = new Map<number, bigint>();
  for (const m of messages) {
    const next = BigInt(m.offset) + 1n;
    if (next > (ends.get(m.partition) ?? 0n)) ends.set(m.partition, next);
  }
  return ends;
}

function sortedEntries(ends: Map<number, bigint>): Array<[number, bigint]> {
  return [...ends].sort((a, b) => a[0] - b[0]);
}

/** Offsets of each partition follow one another without a gap or a repeat (a delete-policy topic). */
function assertConsecutivePerPartition(messages: LogMessage[], what: string): void {
  const last = new Map<number, bigint>();
  for (const m of messages) {
    const offset = BigInt(m.offset);
    const before = last.get(m.partition);
    if (before !== undefined) assert.equal(offset, before + 1n, `${what}: partition ${m.partition} offset ${offset} after ${before}`);
    last.set(m.partition, offset);
  }
}

export function rangeReadContract(withLog: WithLog): void {
  test('readRange delivers every record from sinceMs to the ends taken at the start, in order per partition', () =>
    withLog(async (log) => {
      const topic = unique('contract-range');
      await log.ensureTopics([{ name: topic, partitions: 3, config: DELETE }]);
      const old = numbered(KEYS, 3, 'old');
      await log.produce(topic, old);
      // Both logs stamp records with this machine's clock (Kafka: the producer's create time).
      await sleep(25);
      const sinceMs = Date.now();
      await sleep(25);
      const recent: OutgoingMessage[] = [...numbered(KEYS, 4, 'new'), { key: '10.0.0.2', value: null }];
      await log.produce(topic, recent);

      const seen: LogMessage[] = [];
      const lateProduce: Array<Promise<void>> = [];
      const late = numbered(KEYS, 2, 'late');
      const reading = log.readRange(topic, {
        sinceMs,
        onMessage: (m) => {
          seen.push(m);
          // Produced while the read runs, after the ends it took: never delivered.
          if (lateProduce.length === 0) lateProduce.push(log.produce(topic, late));
        },
      });
      // More records while the read gets going (Kafka: some land after the ends were taken and
      // before the first fetch). Which side of the ends each lands on is timing; the ends say.
      const trickle: OutgoingMessage[] = [];
      const trickling = (async () => {
        for (const wait of [0, 20, 40, 80, 160, 320]) {
          await sleep(wait);
          const more = numbered(KEYS, 1, `trickle${wait}`);
          trickle.push(...more);
          await log.produce(topic, more);
        }
      })();
      const result = await within(reading, 20_000, 'readRange');
      await Promise.all([...lateProduce, trickling]);
      await settle();
      assert.equal(lateProduce.length, 1);

      // From 0: everything there is now.
      const all: LogMessage[] = [];
      const whole = await within(log.readRange(topic, { sinceMs: 0, onMessage: (m) => all.push(m) }), 20_000, 'readRange from 0');
      assert.equal(whole.records, old.length + recent.length + late.length + trickle.length);
      assert.equal(all.length, whole.records);
      assert.deepEqual(sortedValues(all), sortedValues([...old, ...recent, ...late, ...trickle]));
      assertConsecutivePerPartition(all, 'the whole topic');
      assert.deepEqual(sortedEntries(whole.ends), sortedEntries(endsOf(all)));

      // The first read: exactly the records from sinceMs up to its ends, each once, in offset order.
      const oldValues = new Set(sortedValues(old));
      const expected = all.filter((m) => !oldValues.has(m.value?.toString() ?? '<null>') && BigInt(m.offset) < (result.ends.get(m.partition) ?? 0n));
      const at = (m: LogMessage): string => `${m.partition}@${m.offset}`;
      assert.deepEqual(seen.map(at).sort(), expected.map(at).sort(), 'the records from sinceMs up to the ends, once each');
      assert.equal(result.records, seen.length);
      // The ends were the log's ends: one past the last record there, old or delivered.
      assert.deepEqual(sortedEntries(result.ends), sortedEntries(endsOf([...all.filter((m) => oldValues.has(m.value?.toString() ?? '<null>')), ...seen])));
      assertConsecutivePerPartition(seen, 'the recent records');
      const seenValues = new Set(sortedValues(seen));
      assert.ok(sortedValues(recent).every((v) => seenValues.has(v)), 'every record produced before the read is delivered');
      assert.ok(sortedValues(late).every((v) => !seenValues.has(v)), 'no record produced after the first delivery is delivered');
      for (const m of seen) {
        assert.equal(m.topic, topic);
        assert.ok(m.timestamp >= sinceMs, `timestamp ${m.timestamp} >= sinceMs ${sinceMs}`);
      }
      const recentValues = new Set(sortedValues(recent));
      for (const key of KEYS.filter((k) => k !== 'null-key')) {
        const values = seen.map((m) => (m.key === key ? m.value?.toString() ?? '<null>' : '')).filter((v) => recentValues.has(v));
        assert.deepEqual(values, recent.filter((m) => m.key === key).map((m) => m.value?.toString() ?? '<null>'), `order of ${key}`);
      }
      const tombstone = seen.find((m) => m.key === '10.0.0.2' && m.value === null);
      assert.ok(tombstone, 'the tombstone is delivered, value null');
      assert.equal(seen.find((m) => m.key === KEYS[0])?.headers['seq'], '0', 'headers travel with the record');
    }), TEST_TIMEOUT_MS,
  );

  test('readRange keeps to the partitions asked for, reads nothing past the last record or from a missing or empty topic, and fails with its caller', () =>
    withLog(async (log) => {
      const topic = unique('contract-range-parts');
      const empty = unique('contract-range-empty');
      await log.ensureTopics([
        { name: topic, partitions: 2, config: DELETE },
        { name: empty, partitions: 2, config: DELETE },
      ]);
      const sent = numbered(KEYS, 3, 'p');
      await log.produce(topic, sent);

      const all: LogMessage[] = [];
      const whole = await within(log.readRange(topic, { sinceMs: 0, onMessage: (m) => all.push(m) }), 20_000, 'readRange of all partitions');
      assert.equal(whole.records, sent.length);
      // Null keys go round-robin, so both partitions hold records and the filter below has something to leave out.
      assert.equal(whole.ends.size, 2, `records in both partitions: ${JSON.stringify(sortedEntries(whole.ends).map(([p, e]) => [p, String(e)]))}`);

      const p = (all[0] as LogMessage).partition;
      const one: LogMessage[] = [];
      // 7 does not exist: it holds nothing.
      const only = await within(log.readRange(topic, { sinceMs: 0, partitions: [p, 7], onMessage: (m) => one.push(m) }), 20_000, `readRange of partition ${p}`);
      assert.ok(one.length > 0);
      assert.ok(one.every((m) => m.partition === p), 'only the partition asked for');
      assert.deepEqual(one.map((m) => m.offset), all.filter((m) => m.partition === p).map((m) => m.offset));
      assert.equal(only.records, one.length);
      assert.deepEqual(sortedEntries(only.ends), [[p, whole.ends.get(p)]]);

      const none: LogMessage[] = [];
      const collect = (m: LogMessage): void => void none.push(m);
      const future = await within(log.readRange(topic, { sinceMs: Date.now() + 3_600_000, onMessage: collect }), 20_000, 'readRange past the last record');
      assert.equal(future.records, 0);
      assert.deepEqual(sortedEntries(future.ends), sortedEntries(whole.ends), 'the ends are reported even when nothing is that recent');

      const missing = await within(log.readRange(unique('contract-range-missing'), { sinceMs: 0, onMessage: collect }), 20_000, 'readRange of a missing topic');
      assert.deepEqual([missing.records, missing.ends.size], [0, 0]);
      const nothing = await within(log.readRange(empty, { sinceMs: 0, onMessage: collect }), 20_000, 'readRange of an empty topic');
      assert.deepEqual([nothing.records, nothing.ends.size], [0, 0]);
      assert.equal(none.length, 0);

      // The caller's own failure ends the read with it (no retrying the batch forever).
      const boom = log.readRange(topic, {
        sinceMs: 0,
        onMessage: () => {
          throw new Error('caller boom');
        },
      });
      await within(assert.rejects(boom, /caller boom/), 20_000, 'readRange to fail with the caller\'s error');

      await assert.rejects(log.readRange(topic, { sinceMs: -1, onMessage: collect }), /sinceMs must be a number >= 0/);
      await assert.rejects(log.readRange(topic, { sinceMs: 0, partitions: [0.5], onMessage: collect }), /partitions must be whole numbers >= 0/);
    }), TEST_TIMEOUT_MS,
  );
}
