import { test, describe } from '@jest/globals';
import assert from 'node:assert/strict';
import type { ConsumerStatus } from '../eventLog.ts';
import { consumerHealthCheck, createHealth, worstState } from './health.ts';

describe('createHealth', () => {
  test('with no checks, reports ok', async () => {
    assert.deepEqual(await createHealth().report(), { state: 'ok', checks: {} });
  });

  test('reports the worst state, with each check and its detail', async () => {
    const health = createHealth();
    health.register('a', () => ({ state: 'ok' }));
    health.register('b', async () => ({ state: 'degraded', detail: 'lag growing' }));
    assert.deepEqual(await health.report(), {
      state: 'degraded',
      checks: { a: { state: 'ok' }, b: { state: 'degraded', detail: 'lag growing' } },
    });
    health.register('c', () => ({ state: 'error', detail: 'stalled' }));
    const report = await health.report();
    assert.equal(report.state, 'error');
    assert.deepEqual(report.checks.c, { state: 'error', detail: 'stalled' });
  });

  test('a check that throws, rejects or hangs is an error of that check, not of report()', async () => {
    const health = createHealth({ checkTimeoutMs: 50 });
    health.register('throws', () => {
      throw new Error('redis is down');
    });
    health.register('rejects', () => Promise.reject(new Error('clickhouse refused')));
    health.register('hangs', () => new Promise(() => {}));
    health.register('fine', () => ({ state: 'ok' }));
    const report = await health.report();
    assert.equal(report.state, 'error');
    assert.deepEqual(report.checks.throws, { state: 'error', detail: 'the check threw: redis is down' });
    assert.deepEqual(report.checks.rejects, { state: 'error', detail: 'the check threw: clickhouse refused' });
    assert.deepEqual(report.checks.hangs, { state: 'error', detail: 'the check did not answer within 50 ms' });
    assert.deepEqual(report.checks.fine, { state: 'ok' });
  });

  test('refuses a duplicate name; the returned function unregisters', async () => {
    const health = createHealth();
    const unregister = health.register('consumer', () => ({ state: 'error' }));
    assert.throws(() => health.register('consumer', () => ({ state: 'ok' })), /already registered/);
    unregister();
    assert.deepEqual(await health.report(), { state: 'ok', checks: {} });
  });

  test('worstState orders ok < degraded < error', () => {
    assert.equal(worstState('ok', 'degraded'), 'degraded');
    assert.equal(worstState('error', 'degraded'), 'error');
    assert.equal(worstState('ok', 'ok'), 'ok');
  });
});

describe('consumerHealthCheck', () => {
  /** A consumer whose status the test sets, and a clock the test moves. */
  const fake = (status: Partial<ConsumerStatus> = {}) => {
    const clock = { now: 1_000_000 };
    const state: ConsumerStatus = { lastPollAt: clock.now, lastCommitAt: clock.now, failures: 0, lag: 0, running: true, ...status };
    return { clock, state, consumer: { status: () => ({ ...state }) } };
  };

  test('ok while polling', async () => {
    const { clock, consumer } = fake({ lag: 12 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now });
    assert.deepEqual(await check(), { state: 'ok', detail: 'polling, lag 12' });
  });

  test('error when the loop has not polled for stallAfterMs while running', async () => {
    const { clock, state, consumer } = fake();
    const check = consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now });
    clock.now += 29_999;
    assert.equal((await check()).state, 'ok');
    clock.now += 1;
    assert.deepEqual(await check(), { state: 'error', detail: 'the consume loop has stalled: no poll for 30 s' });
    // The loop comes back: so does ok.
    state.lastPollAt = clock.now;
    assert.equal((await check()).state, 'ok');
  });

  test('a loop that never polled stalls stallAfterMs after the check was made', async () => {
    const { clock, consumer } = fake({ lastPollAt: 0, lastCommitAt: 0 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 5_000, now: () => clock.now });
    assert.equal((await check()).state, 'ok');
    clock.now += 5_500;
    assert.deepEqual(await check(), { state: 'error', detail: 'the consume loop has stalled: no first poll for 5.5 s' });
  });

  test('degraded while the current batch has failed, ok again once it succeeds', async () => {
    const { clock, state, consumer } = fake({ failures: 1 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now });
    assert.deepEqual(await check(), { state: 'degraded', detail: 'the current batch has failed 1 time and is being retried' });
    state.failures = 4;
    assert.match((await check()).detail ?? '', /failed 4 times/);
    state.failures = 0;
    assert.equal((await check()).state, 'ok');
  });

  test('degraded when lag is above maxLag; unknown lag is not judged', async () => {
    const { clock, state, consumer } = fake({ lag: 1001 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 30_000, maxLag: 1000, now: () => clock.now });
    assert.deepEqual(await check(), { state: 'degraded', detail: 'lag of 1001 messages is above 1000' });
    state.lag = 1000;
    assert.equal((await check()).state, 'ok');
    state.lag = null;
    assert.deepEqual(await check(), { state: 'ok', detail: 'polling' });
    state.lag = 5_000_000;
    assert.equal((await consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now })()).state, 'ok', 'no maxLag, no judgement');
  });

  test('error when not running, whatever else', async () => {
    const { clock, consumer } = fake({ running: false, failures: 3 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now });
    assert.deepEqual(await check(), { state: 'error', detail: 'the consumer is not running' });
  });

  test('a stall outranks a failing batch', async () => {
    const { clock, consumer } = fake({ failures: 2 });
    const check = consumerHealthCheck(consumer, { stallAfterMs: 1_000, now: () => clock.now });
    clock.now += 60_000;
    assert.deepEqual(await check(), { state: 'error', detail: 'the consume loop has stalled: no poll for 60 s' });
  });

  test('plugs into createHealth', async () => {
    const { clock, consumer } = fake({ failures: 1 });
    const health = createHealth();
    health.register('consumer:enricher', consumerHealthCheck(consumer, { stallAfterMs: 30_000, now: () => clock.now }));
    assert.equal((await health.report()).state, 'degraded');
  });
});
