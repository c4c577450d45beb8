import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventLog, OutgoingMessage } from '@ipwatch/core/eventLog';
import { createEventBuffer } from './eventBuffer.ts';
import { EmitterOptionError } from './errors.ts';

/** A stand-in EventLog for unit tests: produce() does what `behaviour` says and records calls. */
function fakeLog(behaviour: (messages: OutgoingMessage[]) => Promise<void> = async () => {}) {
  const batches: OutgoingMessage[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const log = {
    kind: 'memory',
    async produce(topic: string, messages: OutgoingMessage[]) {
      assert.equal(topic, 't');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await behaviour(messages);
        batches.push(messages);
      } finally {
        inFlight--;
      }
    },
    consume: () => Promise.reject(new Error('unused')),
    readCompacted: () => Promise.reject(new Error('unused')),
    ensureTopics: async () => {},
    close: async () => {},
  } as unknown as EventLog;
  return { log, batches, maxInFlight: () => maxInFlight };
}

const v = (i: number) => Buffer.from(String(i));

describe('createEventBuffer', () => {
  test('sends in order, in batches of at most maxBatch, one produce at a time', async () => {
    const f = fakeLog(() => sleep(2));
    const b = createEventBuffer({ log: f.log, topic: 't', maxBatch: 7, flushIntervalMs: 5 });
    for (let i = 0; i < 50; i++) assert.equal(b.push(`k${i}`, v(i), { h: '1' }), true);
    assert.equal(await b.flush(2000), true);
    const all = f.batches.flat();
    assert.deepEqual(all.map((m) => m.value!.toString()), Array.from({ length: 50 }, (_, i) => String(i)));
    assert.deepEqual(all[3], { key: 'k3', value: v(3), headers: { h: '1' } });
    assert.ok(f.batches.every((batch) => batch.length <= 7));
    assert.equal(f.maxInFlight(), 1);
    assert.deepEqual({ ...b.stats(), droppedByReason: undefined }, {
      buffered: 0, sent: 50, dropped: 0, droppedByReason: undefined, failures: 0, consecutiveFailures: 0, lastError: null, inFlightMs: null,
    });
    await b.close();
  });

  test('the linger: a lone event goes out after flushIntervalMs without a flush()', async () => {
    const f = fakeLog();
    const b = createEventBuffer({ log: f.log, topic: 't', flushIntervalMs: 10 });
    b.push(null, v(1));
    await sleep(60);
    assert.equal(f.batches.length, 1);
    assert.equal(b.stats().sent, 1);
    await b.close();
  });

  test('when full, push drops and counts buffer_full, never throws', () => {
    const f = fakeLog(() => new Promise(() => {}));
    const b = createEventBuffer({ log: f.log, topic: 't', maxEvents: 10, maxBatch: 5 });
    let acceptedCount = 0;
    for (let i = 0; i < 25; i++) if (b.push('k', v(i))) acceptedCount++;
    assert.equal(acceptedCount, 10);
    const s = b.stats();
    assert.equal(s.buffered, 10);
    assert.equal(s.dropped, 15);
    assert.equal(s.droppedByReason.buffer_full, 15);
  });

  test('produce failures: events kept, retried with back-off, counted; sent once the log is back', async () => {
    let down = true;
    let attempts = 0;
    const errors: unknown[] = [];
    const f = fakeLog(async () => {
      attempts++;
      if (down) throw new Error('broker unreachable');
    });
    const b = createEventBuffer({ log: f.log, topic: 't', flushIntervalMs: 1, retryMinMs: 10, retryMaxMs: 40, onError: (e) => errors.push(e) });
    for (let i = 0; i < 20; i++) b.push('k', v(i));
    await sleep(150);
    const during = b.stats();
    assert.ok(during.failures >= 3, `failures ${during.failures}`);
    assert.ok(during.failures < 20, `back-off should space retries, got ${during.failures} in 150 ms`);
    assert.equal(during.consecutiveFailures, during.failures);
    assert.equal(during.lastError, 'broker unreachable');
    assert.equal(during.buffered, 20);
    assert.equal(errors.length, during.failures);
    down = false;
    assert.equal(await b.flush(1000), true);
    const after = b.stats();
    assert.equal(after.sent, 20);
    assert.equal(after.consecutiveFailures, 0);
    assert.ok(attempts > after.failures);
    assert.deepEqual(f.batches.flat().map((m) => m.value!.toString()), Array.from({ length: 20 }, (_, i) => String(i)));
    await b.close();
  });

  test('a produce that throws synchronously is a failure like any other', async () => {
    const log = { produce() { throw new Error('sync boom'); } } as unknown as EventLog;
    const b = createEventBuffer({ log, topic: 't', flushIntervalMs: 1, retryMinMs: 1000 });
    assert.equal(b.push('k', v(1)), true);
    await sleep(20);
    assert.equal(b.stats().failures, 1);
    assert.equal(b.stats().lastError, 'sync boom');
    await b.close(10);
    assert.equal(b.stats().droppedByReason.close_timeout, 1);
  });

  test('a produce that never resolves: one call in flight, memory bounded, drops counted, flush times out', async () => {
    let calls = 0;
    const log = { produce: () => { calls++; return new Promise<void>(() => {}); } } as unknown as EventLog;
    const b = createEventBuffer({ log, topic: 't', maxEvents: 100, maxBatch: 10, flushIntervalMs: 1 });
    for (let i = 0; i < 10_000; i++) b.push('k', v(i));
    await sleep(20);
    for (let i = 0; i < 10_000; i++) b.push('k', v(i));
    assert.equal(calls, 1);
    const s = b.stats();
    assert.equal(s.buffered, 100);
    assert.equal(s.droppedByReason.buffer_full, 19_900);
    assert.ok(s.inFlightMs !== null && s.inFlightMs >= 10);
    const started = Date.now();
    assert.equal(await b.flush(50), false);
    assert.ok(Date.now() - started < 500);
    await b.close(20);
    assert.equal(b.stats().droppedByReason.close_timeout, 90, 'all but the batch still in flight');
  });

  test('close flushes, then later pushes are dropped as closed', async () => {
    const f = fakeLog(() => sleep(5));
    const b = createEventBuffer({ log: f.log, topic: 't', flushIntervalMs: 1000 });
    for (let i = 0; i < 3; i++) b.push('k', v(i));
    await b.close();
    assert.equal(b.stats().sent, 3);
    assert.equal(b.push('k', v(4)), false);
    assert.equal(b.stats().droppedByReason.closed, 1);
    await b.close();
  });

  test('bad options throw at construction', () => {
    const { log } = fakeLog();
    assert.throws(() => createEventBuffer({ log: {} as EventLog, topic: 't' }), EmitterOptionError);
    assert.throws(() => createEventBuffer({ log, topic: '' }), /topic/);
    assert.throws(() => createEventBuffer({ log, topic: 't', maxEvents: 0 }), /maxEvents/);
    assert.throws(() => createEventBuffer({ log, topic: 't', maxBatch: 1.5 }), /maxBatch/);
    assert.throws(() => createEventBuffer({ log, topic: 't', flushIntervalMs: -1 }), /flushIntervalMs/);
  });
});
