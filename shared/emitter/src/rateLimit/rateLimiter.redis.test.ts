/**
 * The limiter over Redis as app instances share it, against a redis-server of the test's
 * own (test/support/redisServer.ts), stopped, hung and restarted mid-test.
 */
import { test, beforeAll, afterAll } from '@jest/globals';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createRedisClient } from '@ipwatch/core/redis';
import { startRedisServer, type TestRedis } from '../../../../test/support/redisServer.ts';
import { createRateLimiter, type RateLimiter, type RateLimiterOptions } from './rateLimiter.ts';

let server: TestRedis;
const open: RateLimiter[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(open.map((l) => l.close()));
  await server.close();
});

let prefixN = 0;
/** A limiter as one app instance has it: its own Redis connection, keys under a prefix of the test's. */
function instance(options: Omit<RateLimiterOptions, 'store' | 'keyPrefix'>, keyPrefix = `t${process.pid}-${prefixN++}:`): RateLimiter {
  const l = createRateLimiter({ ...options, store: server.url, keyPrefix });
  open.push(l);
  return l;
}
function req(method: string, url: string, body?: unknown): IncomingMessage {
  return { method, url, headers: {}, ...(body !== undefined && { body }) } as unknown as IncomingMessage;
}
const anon = (ip: string) => ({ ip, userId: null, authenticated: false });

test('two app instances share one limit through Redis', async () => {
  const prefix = `shared${process.pid}:`;
  const a = instance({ rules: { anonymous: '4/m' } }, prefix);
  const b = instance({ rules: { anonymous: '4/m' } }, prefix);
  const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).check(req('GET', '/'), anon('203.0.113.7'))));
  assert.equal(decisions.filter((d) => !d.limited).length, 4);
  assert.equal(a.stats().store.using, 'primary');
  assert.equal(a.stats().store.fallbackChecks, 0);
});

test('IPv6: two addresses in one /64 share a limit, another /64 does not', async () => {
  const l = instance({ rules: { anonymous: '2/m' } });
  assert.equal((await l.check(req('GET', '/'), anon('2001:db8:1:2::1'))).limited, false);
  assert.equal((await l.check(req('GET', '/'), anon('2001:db8:1:2:ffff:ffff:ffff:ffff'))).limited, false);
  const third = await l.check(req('GET', '/'), anon('2001:db8:1:2::abcd'));
  assert.ok(third.limited);
  assert.equal(third.limitKey, '2001:db8:1:2::/64');
  assert.equal((await l.check(req('GET', '/'), anon('2001:db8:1:3::1'))).limited, false);
  // IPv4-mapped is the IPv4 address
  await l.check(req('GET', '/'), anon('192.0.2.1'));
  await l.check(req('GET', '/'), anon('192.0.2.1'));
  const mapped = await l.check(req('GET', '/'), anon('::ffff:192.0.2.1'));
  assert.ok(mapped.limited);
  assert.equal(mapped.limitKey, '192.0.2.1');
});

test('login: the per-username limit holds across IPs and across instances', async () => {
  const prefix = `login${process.pid}:`;
  const a = instance({ rules: { anonymous: false } }, prefix);
  const b = instance({ rules: { anonymous: false } }, prefix);
  const tries = await Promise.all(
    Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).check(req('POST', '/login', { username: 'Alice' }), anon(`198.51.100.${i}`))),
  );
  assert.equal(tries.filter((d) => !d.limited).length, 3);
  const refused = tries.find((d) => d.limited);
  assert.ok(refused?.limited);
  assert.equal(refused.rule, 'login-user');
  assert.equal(refused.limitKey, 'login-user:alice');
  assert.equal(refused.statusCode, 429);
  // until the oldest counts leave the window whole (with their bucket, a tenth of it): 300 to 330 s
  assert.ok(refused.retryAfterS > 295 && refused.retryAfterS <= 330, `Retry-After ${refused.retryAfterS}`);
  // another username from those IPs is still fine: only the IPs' own counts apply
  assert.equal((await a.check(req('POST', '/login', { username: 'bob' }), anon('198.51.100.1'))).limited, false);
  const redis = createRedisClient(server.url);
  await new Promise((r) => redis.once('ready', r));
  try {
    const keys = (await redis.keys(`${prefix}*`)).sort();
    assert.ok(keys.includes(`${prefix}login:login-user:alice`), keys.join(' '));
    assert.ok(keys.includes(`${prefix}login:198.51.100.1`), keys.join(' '));
  } finally {
    redis.disconnect();
  }
});

test('Redis stopped, hung, and back: checks stay within the deadline on the fallback limiter, then use Redis again', async () => {
  const transitions: string[] = [];
  const l = createRateLimiter({
    store: server.url,
    keyPrefix: `outage${process.pid}:`,
    commandTimeoutMs: 200,
    retryIntervalMs: 200,
    rules: { anonymous: '3/m' },
    onStoreStateChange: (s) => transitions.push(s.using),
  });
  open.push(l);
  const timed = async (ip: string) => {
    const t0 = performance.now();
    const d = await l.check(req('GET', '/'), anon(ip));
    return { d, ms: performance.now() - t0 };
  };
  assert.equal((await timed('192.0.2.10')).d.limited, false);
  assert.equal(l.health().state, 'ok');

  // Stopped (killed): the connection drops, checks fail fast to the in-process limiter.
  await server.stop();
  const during = [];
  for (let i = 0; i < 4; i++) during.push(await timed('192.0.2.20'));
  for (const { ms } of during) assert.ok(ms < 250, `a check took ${ms.toFixed(0)} ms while Redis was down`);
  assert.deepEqual(during.map(({ d }) => d.limited), [false, false, false, true], 'the fallback applies the same 3/m');
  const limited = during[3]!.d;
  assert.ok(limited.limited);
  assert.equal(limited.fallback, 'memory');
  const s = l.stats().store;
  assert.equal(s.using, 'fallback');
  assert.ok(s.storeErrors >= 1);
  assert.equal(s.fallbackChecks, 4);
  const h = l.health();
  assert.equal(h.state, 'degraded');
  assert.match(h.detail!, /redis store unreachable since/);

  // Back (empty, as after a crash): within a retry interval and a reconnect, Redis answers again.
  await server.start();
  const deadline = Date.now() + 5000;
  while (l.stats().store.using !== 'primary' && Date.now() < deadline) {
    await timed('192.0.2.30');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(l.stats().store.using, 'primary');
  assert.equal(l.health().state, 'ok');
  const back = await timed('192.0.2.40');
  assert.equal(back.d.limited, false);
  // t: until the count leaves with its 6 s bucket, 60 to 66 s from now
  assert.match(back.d.headers.find(([n]) => n === 'RateLimit')?.[1] ?? '', /^"anonymous";r=2;t=6[1-6]$/);
  const fallbackChecks = l.stats().store.fallbackChecks;
  await timed('192.0.2.40');
  assert.equal(l.stats().store.fallbackChecks, fallbackChecks, 'Redis answers, not the fallback');

  // Hung (a busy script holds the server for 1.5 s): each check ends at the 200 ms command deadline.
  const blocker = createRedisClient(server.url, { commandTimeoutMs: 10_000 });
  await new Promise((r) => blocker.once('ready', r));
  const busy = blocker
    .eval("local t = redis.call('TIME') local s = tonumber(t[1]) + tonumber(t[2]) / 1e6 repeat t = redis.call('TIME') until tonumber(t[1]) + tonumber(t[2]) / 1e6 - s > 1.5 return 1", 0)
    .catch(() => 0);
  await new Promise((r) => setTimeout(r, 50));
  const hung = await timed('192.0.2.50');
  assert.ok(hung.ms >= 150 && hung.ms < 400, `a check took ${hung.ms.toFixed(0)} ms while Redis was hung`);
  assert.equal(hung.d.limited, false);
  assert.equal(l.stats().store.using, 'fallback');
  assert.match(l.stats().store.lastError ?? '', /timed out/);
  const next = await timed('192.0.2.50');
  assert.ok(next.ms < 50, 'the next check goes straight to the fallback, no second wait');
  await busy;
  blocker.disconnect();
  assert.deepEqual(transitions.slice(0, 3), ['fallback', 'primary', 'fallback']);
});
