import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { backoffDelay, createWakeableSleep, retryInPlace, sleep, withJitter } from './retry.ts';

test('backoffDelay: the minimum first, doubling per failure, capped, finite for any count', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, 100, 5000)), [100, 200, 400, 800, 1600, 3200, 5000]);
  assert.equal(backoffDelay(1_000_000, 100, 5000), 5000);
  assert.equal(backoffDelay(3, 0, 5000), 0);
});

test('withJitter: between half and all of the delay, whole ms', () => {
  assert.equal(withJitter(1000, () => 0), 500);
  assert.equal(withJitter(1000, () => 0.999999), 1000);
  assert.equal(withJitter(333, () => 0.5), 250);
});

test('sleep: waits its time; an abort ends it at once; an aborted signal does not wait at all', async () => {
  let t = Date.now();
  await sleep(30);
  assert.ok(Date.now() - t >= 25);
  const stop = new AbortController();
  t = Date.now();
  setTimeout(() => stop.abort(), 10);
  await sleep(10_000, { signal: stop.signal });
  assert.ok(Date.now() - t < 1000, 'woken by the abort');
  t = Date.now();
  await sleep(10_000, { signal: stop.signal });
  assert.ok(Date.now() - t < 100, 'already aborted');
});

test('createWakeableSleep: wake() ends a timed or an endless sleep, and can do so again and again', async () => {
  const idle = createWakeableSleep();
  for (const ms of [undefined, 10_000, undefined]) {
    const t = Date.now();
    const slept = idle.sleep(ms);
    setTimeout(() => idle.wake(), 5);
    await slept;
    assert.ok(Date.now() - t < 1000);
  }
  // A wake with nobody asleep is not kept for the next sleep.
  idle.wake();
  const t = Date.now();
  await idle.sleep(30);
  assert.ok(Date.now() - t >= 25);
});

test('retryInPlace: the same work again after each failure, with the back-off from the failures in a row, until it succeeds', async () => {
  const stop = new AbortController();
  let attempts = 0;
  let failures = 0;
  const delays: number[] = [];
  const done = await retryInPlace(
    async () => {
      if (++attempts < 4) throw new Error(`attempt ${attempts}`);
    },
    {
      signal: stop.signal,
      onFailure: () => ++failures,
      delayMs: (n) => {
        delays.push(n);
        return backoffDelay(n, 1, 10);
      },
    },
  );
  assert.equal(done, true);
  assert.equal(attempts, 4);
  assert.deepEqual(delays, [1, 2, 3]);
});

test('retryInPlace: a stop during the back-off ends it at once, without another attempt', async () => {
  const stop = new AbortController();
  let attempts = 0;
  const t = Date.now();
  setTimeout(() => stop.abort(), 20);
  const done = await retryInPlace(
    async () => {
      attempts++;
      throw new Error('down');
    },
    { signal: stop.signal, onFailure: () => attempts, delayMs: () => 60_000 },
  );
  assert.equal(done, false);
  assert.equal(attempts, 1);
  assert.ok(Date.now() - t < 5000);
});

test('retryInPlace: a stop while the attempt runs means no retry; beforeRetry can give up, or throw', async () => {
  const stop = new AbortController();
  let attempts = 0;
  const stopped = await retryInPlace(
    async () => {
      attempts++;
      stop.abort();
      throw new Error('failed while stopping');
    },
    { signal: stop.signal, onFailure: () => 1, delayMs: () => 0 },
  );
  assert.equal(stopped, false);
  assert.equal(attempts, 1);

  const running = new AbortController();
  let checks = 0;
  const gaveUp = await retryInPlace(() => Promise.reject(new Error('x')), {
    signal: running.signal,
    onFailure: () => 1,
    delayMs: () => 0,
    beforeRetry: () => ++checks < 3,
  });
  assert.equal(gaveUp, false);
  assert.equal(checks, 3);

  await assert.rejects(
    retryInPlace(() => Promise.reject(new Error('x')), {
      signal: running.signal,
      onFailure: () => 1,
      delayMs: () => 0,
      beforeRetry: () => Promise.reject(new Error('rebalance')),
    }),
    /rebalance/,
  );
});
