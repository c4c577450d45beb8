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
      const result = await within(
        log.readRange(topic, {
          sinceMs,
          onMessage: (m) => {
            seen.push(m);
            // Produced while the read runs, after the ends it took: never delivered.
            if (lateProduce.length === 0) lateProduce.push(log.produce(topic, late));
          },
        }),
        20_000,
        'readRange',
      );
      await Promise.all(lateProduce);
      await settle();
      assert.equal(lateProduce.length, 1);

      assert.equal(result.records, recent.length);
      assert.equal(seen.length, recent.length, `only the recent records, once each: ${sortedValues(seen).join(',')}`);
      assert.deepEqual(sortedValues(seen), sortedValues(recent));
      for (const m of seen) {
        assert.equal(m.topic, topic);
        assert.ok(m.timestamp >= sinceMs, `timestamp ${m.timestamp} >= sinceMs ${sinceMs}`);
      }
      for (const key of KEYS.filter((k) => k !== 'null-key')) {
        const values = seen.filter((m) => m.key === key).map((m) => m.value?.toString() ?? '<null>');
        assert.deepEqual(values, recent.filter((m) => m.key === key).map((m) => m.value?.toString() ?? '<null>'), `order of ${key}`);
      }
      const tombstone = seen.find((m) => m.key === '10.0.0.2' && m.value === null);
      assert.ok(tombstone, 'the tombstone is delivered, value null');
      assert.equal(seen.find((m) => m.key === KEYS[0])?.headers['seq'], '0', 'headers travel with the record');
      assertConsecutivePerPartition(seen, 'the recent records');

      // From 0: everything, the late records too; the first read's ends were where the late ones began.
      const all: LogMessage[] = [];
      const whole = await within(log.readRange(topic, { sinceMs: 0, onMessage: (m) => all.push(m) }), 20_000, 'readRange from 0');
      assert.equal(whole.records, old.length + recent.length + late.length);
      assert.equal(all.length, whole.records);
      assert.deepEqual(sortedValues(all), sortedValues([...old, ...recent, ...late]));
      assertConsecutivePerPartition(all, 'the whole topic');
      assert.deepEqual(sortedEntries(whole.ends), sortedEntries(endsOf(all)));
      const lateValues = new Set(sortedValues(late));
      assert.deepEqual(sortedEntries(result.ends), sortedEntries(endsOf(all.filter((m) => !lateValues.has(m.value?.toString() ?? '')))));
      for (const [p, end] of endsOf(seen)) assert.equal(result.ends.get(p), end, `partition ${p} read up to its end`);
    }), TEST_TIMEOUT_MS,
  );

  test('readRange keeps to the partitions asked for, and reads nothing past the last record or from a missing or empty topic', () =>
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

      await assert.rejects(log.readRange(topic, { sinceMs: -1, onMessage: collect }), /sinceMs must be a number >= 0/);
      await assert.rejects(log.readRange(topic, { sinceMs: 0, partitions: [0.5], onMessage: collect }), /partitions must be whole numbers >= 0/);
    }), TEST_TIMEOUT_MS,
  );
}
