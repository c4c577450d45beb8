/** The alert ledger on the real Redis, and in-process: the same answers. */
import assert from 'node:assert/strict';
import { afterAll, describe, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createRedisClient } from '@ipwatch/core/redis';
import { redisUrl } from '../../../test/support/components.ts';
import { createMemoryLedger, createRedisLedger, type AlertLedger } from './ledger.ts';

const redis = createRedisClient(redisUrl(), { name: 'ipwatch-ledger-test', commandTimeoutMs: 2000 });
afterAll(() => redis.quit());

const ledgers: Array<[string, () => AlertLedger]> = [
  ['redis', () => createRedisLedger(redis, { prefix: `ipwatch-test:${randomUUID()}:` })],
  ['memory', () => createMemoryLedger()],
];

describe.each(ledgers)('alert ledger (%s)', (_name, make) => {
  test('a claim is mine, busy for another owner, done once sent; a released lease is free again', async () => {
    await new Promise((r) => (redis.status === 'ready' ? r(null) : redis.once('ready', r)));
    const l = make();
    assert.equal(await l.claim('email:a1', 'one', 60_000), 'mine');
    assert.equal(await l.claim('email:a1', 'one', 60_000), 'mine', 'renewed by its owner');
    assert.equal(await l.claim('email:a1', 'two', 60_000), 'busy');
    await l.release('email:a1', 'two');
    assert.equal(await l.claim('email:a1', 'two', 60_000), 'busy', 'only the owner releases');
    await l.release('email:a1', 'one');
    assert.equal(await l.claim('email:a1', 'two', 60_000), 'mine');
    await l.done('email:a1', 60_000);
    assert.equal(await l.claim('email:a1', 'one', 60_000), 'done');
    assert.equal(await l.claim('email:a1', 'two', 60_000), 'done');
  });

  test('a lease runs out: a crashed owner does not hold the alert for good', async () => {
    const l = make();
    assert.equal(await l.claim('webhook:a2', 'crashed', 50), 'mine');
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await l.claim('webhook:a2', 'next', 60_000), 'mine');
  });

  test('the quiet period: opened by one alert, held for it, closed to others until it ends', async () => {
    const l = make();
    assert.equal(await l.quiet('burst|192.0.2.1', 'alert-1', 100), true);
    assert.equal(await l.quiet('burst|192.0.2.1', 'alert-1', 100), true, 'the same alert read again');
    assert.equal(await l.quiet('burst|192.0.2.1', 'alert-2', 100), false);
    assert.equal(await l.quiet('burst|192.0.2.2', 'alert-2', 100), true, 'another client');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await l.quiet('burst|192.0.2.1', 'alert-2', 100), true, 'after the period');
    assert.equal(await l.quiet('x', 'a', 0), true);
    assert.equal(await l.quiet('x', 'b', 0), true, 'a quiet period of 0 keeps nothing quiet');
  });
});
