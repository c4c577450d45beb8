/** The sliding-window script against a real redis-server of the test's own (test/support/redisServer.ts). */
import { test, beforeAll, afterAll } from '@jest/globals';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { createRedisClient } from '@ipwatch/core/redis';
import { startRedisServer, type TestRedis } from '../../../../test/support/redisServer.ts';
import { EmitterOptionError } from '../errors.ts';
import { createRedisRateLimitStore, type RedisRateLimitStore } from './store.redis.ts';

let server: TestRedis;
let store: RedisRateLimitStore;

beforeAll(async () => {
  server = await startRedisServer();
  store = createRedisRateLimitStore({ redis: server.url, commandTimeoutMs: 1000 });
  await store.ready();
});
afterAll(async () => {
  await store.close();
  await server.close();
});

let keyN = 0;
const fresh = (name: string) => `test:${name}:${process.pid}:${keyN++}`;

test('never more than N admitted in any window of W, by the server clock, under concurrent load', async () => {
  const key = fresh('sliding');
  const limit = 5;
  const windowMs = 1000;
  const observer = createRedisClient(server.url, { name: 'test-observer' });
  await once(observer, 'ready');
  const seen = new Map<string, number>(); // member -> score (server µs)
  let stop = false;
  // Every admitted entry lives in the set for W; sampling it every 50 ms sees each one.
  const watch = (async () => {
    while (!stop) {
      const flat = await observer.zrange(key, 0, -1, 'WITHSCORES');
      for (let i = 0; i < flat.length; i += 2) seen.set(flat[i]!, Number(flat[i + 1]));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  let admitted = 0;
  let refused = 0;
  const deadline = Date.now() + 3500;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() < deadline) {
        const r = await store.hit([{ key, limit, windowMs }]);
        if (r.allowed) admitted++;
        else refused++;
      }
    }),
  );
  stop = true;
  await watch;
  const flat = await observer.zrange(key, 0, -1, 'WITHSCORES');
  for (let i = 0; i < flat.length; i += 2) seen.set(flat[i]!, Number(flat[i + 1]));
  const ttl = await observer.pttl(key);
  await observer.quit();

  assert.equal(seen.size, admitted, 'every admitted request was recorded once');
  assert.ok(refused > 1000, `the loop pressed hard (${refused} refused)`);
  const times = [...seen.values()].sort((a, b) => a - b);
  for (let i = 0; i + limit < times.length; i++) {
    assert.ok(times[i + limit]! - times[i]! >= windowMs * 1000, `${limit + 1} admitted within ${(times[i + limit]! - times[i]!) / 1000} ms`);
  }
  // and not stricter than the rate: about 5 per second over 3.5 s
  assert.ok(admitted >= 15 && admitted <= 20, `admitted ${admitted}`);
  assert.ok(ttl > 0 && ttl <= windowMs, `the key expires with its window (pttl ${ttl})`);
});

test('remaining, reset and retry-after from the script', async () => {
  const key = fresh('figures');
  const check = [{ key, limit: 2, windowMs: 10_000 }];
  const first = await store.hit(check);
  assert.deepEqual(first, { allowed: true, results: [{ remaining: 1, resetMs: 10_000, retryAfterMs: 0 }] });
  const second = await store.hit(check);
  assert.equal(second.results[0]!.remaining, 0);
  assert.ok(second.results[0]!.resetMs <= 10_000 && second.results[0]!.resetMs > 9_000);
  const third = await store.hit(check);
  assert.equal(third.allowed, false);
  assert.equal(third.results[0]!.remaining, 0);
  assert.ok(third.results[0]!.retryAfterMs > 9_000 && third.results[0]!.retryAfterMs <= 10_000);
  assert.equal(await store.client.zcard(key), 2, 'the refusal was not recorded');
});

test('several keys in one call: admitted only if all are under, then recorded in all, atomically across concurrent callers', async () => {
  const user = fresh('user');
  const ips = [fresh('ipA'), fresh('ipB'), fresh('ipC')];
  const results = await Promise.all(
    Array.from({ length: 60 }, (_, i) => store.hit([{ key: ips[i % 3]!, limit: 100, windowMs: 60_000 }, { key: user, limit: 7, windowMs: 60_000 }])),
  );
  assert.equal(results.filter((r) => r.allowed).length, 7);
  assert.equal(await store.client.zcard(user), 7);
  const perIp = await Promise.all(ips.map((k) => store.client.zcard(k)));
  assert.equal(perIp.reduce((a, b) => a + b, 0), 7, 'refused requests charged no IP key');
  const refused = results.find((r) => !r.allowed)!;
  assert.equal(refused.results[0]!.retryAfterMs, 0);
  assert.ok(refused.results[1]!.retryAfterMs > 0);

  const three = await store.hit([
    { key: fresh('x'), limit: 1, windowMs: 1000 },
    { key: fresh('y'), limit: 2, windowMs: 2000 },
    { key: fresh('z'), limit: 3, windowMs: 3000 },
  ]);
  assert.deepEqual(three.results.map((r) => r.remaining), [0, 1, 2]);
  assert.deepEqual(three.results.map((r) => r.resetMs), [1000, 2000, 3000]);
});

test('a server that lost the script (SCRIPT FLUSH, restart) gets it again', async () => {
  const key = fresh('noscript');
  await store.hit([{ key, limit: 5, windowMs: 60_000 }]);
  await store.client.script('FLUSH');
  const r = await store.hit([{ key, limit: 5, windowMs: 60_000 }]);
  assert.equal(r.results[0]!.remaining, 3);
});

test('a key of another type is an error (the store is unusable for it), never a verdict', async () => {
  const key = fresh('wrongtype');
  await store.client.set(key, 'x');
  await assert.rejects(store.hit([{ key, limit: 5, windowMs: 60_000 }]), /WRONGTYPE/);
});

test('checks made before the first connection is up wait for it (within the deadline) instead of failing', async () => {
  const early = createRedisRateLimitStore({ redis: server.url, commandTimeoutMs: 2000 });
  try {
    assert.equal(early.client.status === 'ready', false);
    const r = await early.hit([{ key: fresh('early'), limit: 1, windowMs: 1000 }]);
    assert.equal(r.allowed, true);
  } finally {
    await early.close();
  }
});

test('a client without a command timeout is refused: a check could hang', () => {
  const raw = createRedisClient(server.url, { name: 'test-raw' });
  try {
    raw.options.commandTimeout = undefined;
    assert.throws(() => createRedisRateLimitStore({ redis: raw }), (err: unknown) => err instanceof EmitterOptionError && /commandTimeout/.test(err.message));
  } finally {
    raw.disconnect();
  }
});
