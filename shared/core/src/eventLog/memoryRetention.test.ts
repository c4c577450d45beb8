/**
 * The in-process log's retention (the embedded mode's counterpart of retention.ms; README,
 * "Retention"): ipwatch's stream topics keep a message topicHours, the DLQ dlqDays, read or not;
 * on produce, and once a minute when nothing is produced.
 */
import assert from 'node:assert/strict';
import { jest, test } from '@jest/globals';
import { TOPICS } from '../topics.ts';
import type { EventLog } from '../eventLog.ts';
import { createMemoryEventLog } from './memory.ts';

const H = 3_600_000;
const value = Buffer.from('x');

async function keys(log: EventLog, topic: string): Promise<string[]> {
  const seen: string[] = [];
  await log.readRange(topic, { sinceMs: 0, onMessage: (m) => void seen.push(m.key ?? '') });
  return seen;
}

test('memory: a stream topic drops messages older than its retention when more are produced; the DLQ keeps its own days', async () => {
  let now = Date.parse('2026-12-01T00:00:00Z');
  const log = createMemoryEventLog({ retention: { topicHours: 2, dlqDays: 1 }, now: () => now });
  try {
    await log.produce(TOPICS.requests, [{ key: 'old', value }]);
    await log.produce(TOPICS.dlq, [{ key: 'old', value }]);
    await log.produce('not-ipwatch', [{ key: 'old', value }]);
    now += 2 * H - 1;
    await log.produce(TOPICS.requests, [{ key: 'recent', value }]);
    assert.deepEqual(await keys(log, TOPICS.requests), ['old', 'recent'], 'inside its 2 h');
    now += 2;
    await log.produce(TOPICS.requests, [{ key: 'new', value }]);
    await log.produce(TOPICS.dlq, [{ key: 'new', value }]);
    await log.produce('not-ipwatch', [{ key: 'new', value }]);
    assert.deepEqual(await keys(log, TOPICS.requests), ['recent', 'new']);
    assert.deepEqual(await keys(log, TOPICS.dlq), ['old', 'new'], 'the DLQ keeps a day');
    assert.deepEqual(await keys(log, 'not-ipwatch'), ['old', 'new'], 'a topic of no retention keeps all');
  } finally {
    await log.close();
  }
});

test('memory: a quiet stream topic is emptied of expired messages within a minute', async () => {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date'] });
  let now = Date.parse('2026-12-01T00:00:00Z');
  const log = createMemoryEventLog({ retention: { topicHours: 1, dlqDays: 1 }, now: () => now });
  try {
    await log.produce(TOPICS.enriched, [{ key: 'a', value }, { key: 'b', value }]);
    now += H + 1;
    jest.advanceTimersByTime(59_000);
    assert.deepEqual(await keys(log, TOPICS.enriched), ['a', 'b'], 'not swept yet');
    jest.advanceTimersByTime(1_000);
    assert.deepEqual(await keys(log, TOPICS.enriched), [], 'swept without a produce');
  } finally {
    await log.close();
    jest.useRealTimers();
  }
});
