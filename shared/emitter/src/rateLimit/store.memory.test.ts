import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryRateLimitStore, STORE_FULL_WARNING } from './store.memory.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('a sliding log: at most N admitted in any window of W, refused requests not counted', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now });
  const check = [{ key: 'k', limit: 3, windowMs: 1000 }];
  const admittedAt: number[] = [];
  // one attempt every 50 ms for 5 s
  for (let i = 0; i < 100; i++) {
    const r = await store.hit(check);
    if (r.allowed) admittedAt.push(c.now());
    c.advance(50);
  }
  for (let i = 0; i + 3 < admittedAt.length; i++) assert.ok(admittedAt[i + 3]! - admittedAt[i]! >= 1000, `4 admitted within one window at ${admittedAt.slice(i, i + 4)}`);
  // and it is not stricter than that: 3 per second over 5 s
  assert.equal(admittedAt.length, 15);
});

test('no double burst across a window boundary (what a fixed window allows)', async () => {
  const c = clock(0);
  const store = createMemoryRateLimitStore({ now: c.now });
  const check = [{ key: 'k', limit: 5, windowMs: 60_000 }];
  c.advance(59_000);
  for (let i = 0; i < 5; i++) assert.equal((await store.hit(check)).allowed, true);
  c.advance(2_000); // a fixed window would start afresh here
  assert.equal((await store.hit(check)).allowed, false);
  c.advance(57_000); // 59 s after the five: still in the window
  assert.equal((await store.hit(check)).allowed, false);
  c.advance(1_000);
  assert.equal((await store.hit(check)).allowed, true);
});

test('remaining, reset and retry-after', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now });
  const check = [{ key: 'k', limit: 2, windowMs: 10_000 }];
  assert.deepEqual((await store.hit(check)).results[0], { remaining: 1, resetMs: 10_000, retryAfterMs: 0 });
  c.advance(3_000);
  assert.deepEqual((await store.hit(check)).results[0], { remaining: 0, resetMs: 7_000, retryAfterMs: 0 });
  c.advance(1_000);
  const refused = await store.hit(check);
  assert.equal(refused.allowed, false);
  assert.deepEqual(refused.results[0], { remaining: 0, resetMs: 6_000, retryAfterMs: 6_000 });
  c.advance(6_000);
  assert.deepEqual((await store.hit(check)).results[0], { remaining: 0, resetMs: 3_000, retryAfterMs: 0 });
});

test('several keys: admitted only if all are under their limits, then counted in all', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now });
  const ip = { key: 'ip', limit: 5, windowMs: 60_000 };
  const user = { key: 'user', limit: 2, windowMs: 60_000 };
  assert.equal((await store.hit([ip, user])).allowed, true);
  assert.equal((await store.hit([ip, user])).allowed, true);
  const refused = await store.hit([ip, user]);
  assert.equal(refused.allowed, false);
  assert.equal(refused.results[0]!.remaining, 3); // the IP key was not charged for the refusal
  assert.equal(refused.results[0]!.retryAfterMs, 0);
  assert.ok(refused.results[1]!.retryAfterMs > 0);
  assert.equal((await store.hit([ip])).results[0]!.remaining, 2);
});

test('a lowered limit: retry-after waits until enough entries have left', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now });
  for (let i = 0; i < 5; i++) {
    await store.hit([{ key: 'k', limit: 5, windowMs: 10_000 }]);
    c.advance(1000);
  }
  // entries at 0..4 s, now 5 s; with a limit of 2 the count must drop to 1, so four must leave: the fourth (at 3 s) leaves at 13 s
  const r = await store.hit([{ key: 'k', limit: 2, windowMs: 10_000 }]);
  assert.deepEqual(r, { allowed: false, results: [{ remaining: 0, resetMs: 5_000, retryAfterMs: 8_000 }] });
});

test('bounded: least recently used keys are evicted beyond maxKeys or maxEntries', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now, maxKeys: 3, maxEntries: 1000 });
  // a limit of 2, so one hit leaves a key under its limit (a key at its limit is never evicted: see below)
  const hit = (key: string) => store.hit([{ key, limit: 2, windowMs: 60_000 }]);
  await hit('a');
  await hit('b');
  await hit('c');
  assert.equal((await hit('a')).results[0]!.remaining, 0); // a is used again: now the most recent
  await hit('d'); // evicts b, the least recently used
  assert.equal(store.size(), 3);
  assert.equal(store.evictions(), 1);
  assert.equal((await hit('a')).allowed, false, 'a kept');
  assert.equal((await hit('b')).results[0]!.remaining, 1, 'b was evicted, so it starts afresh');

  const small = createMemoryRateLimitStore({ now: c.now, maxKeys: 100, maxEntries: 10 });
  for (let i = 0; i < 20; i++) await small.hit([{ key: `k${i}`, limit: 5, windowMs: 60_000 }]);
  assert.ok(small.size() <= 10);
});

test('bad options fail at construction', () => {
  assert.throws(() => createMemoryRateLimitStore({ maxKeys: 0 }), /maxKeys must be a whole number/);
  assert.throws(() => createMemoryRateLimitStore({ maxEntries: 1.5 }), /maxEntries/);
});

test('refused requests create no keys: a flood of fresh usernames cannot push live history out', async () => {
  const store = createMemoryRateLimitStore({ maxKeys: 100 });
  const alice = { key: 'login-user:alice', limit: 2, windowMs: 60_000 };
  await store.hit([alice]);
  await store.hit([alice]);
  assert.equal((await store.hit([alice])).allowed, false);
  const attackerIp = { key: 'login:203.0.113.9', limit: 1, windowMs: 60_000 };
  await store.hit([attackerIp, { key: 'login-user:x0', limit: 2, windowMs: 60_000 }]);
  for (let i = 1; i < 1000; i++) await store.hit([attackerIp, { key: `login-user:x${i}`, limit: 2, windowMs: 60_000 }]);
  assert.equal((await store.hit([alice])).allowed, false, 'alice is still locked out');
  assert.equal(store.evictions(), 0);
});

test('a flood of 100,000+ fresh keys (new IPv6 /64s) never frees a locked account, nor a client refused in its window', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now }); // the default bound: 100,000 keys
  const alice = { key: 'ipwatch:rl:login:login-user:alice', limit: 3, windowMs: 300_000 };
  for (let i = 0; i < 3; i++) assert.equal((await store.hit([{ key: `ipwatch:rl:login:192.0.2.${i}`, limit: 3, windowMs: 300_000 }, alice])).allowed, true);
  assert.equal((await store.hit([alice])).allowed, false, 'alice is locked');
  const noisy = { key: 'ipwatch:rl:anonymous:198.51.100.7', limit: 5, windowMs: 60_000 };
  for (let i = 0; i < 6; i++) await store.hit([noisy]);
  const started = Date.now();
  for (let i = 0; i < 120_000; i++) {
    const r = await store.hit([{ key: `ipwatch:rl:anonymous:2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`, limit: 5, windowMs: 60_000 }]);
    assert.equal(r.allowed, true); // fresh keys under their limit stay admitted: the flood evicts only what is unguarded
  }
  c.advance(10_000);
  assert.equal((await store.hit([alice])).allowed, false, 'alice is still locked after the flood');
  assert.equal((await store.hit([noisy])).allowed, false, 'the refused client still is');
  assert.ok(store.evictions() >= 20_000);
  assert.equal(store.stats().guardedKeys, 2);
  assert.ok(Date.now() - started < 10_000, `the flood took ${Date.now() - started} ms: eviction must not scan the keys`);
});

test('full of guarded keys: a request that needs a new key is refused (counted, warned about once) until a guard ends', async () => {
  const c = clock();
  const warnings: Array<Error & { code?: string }> = [];
  const onWarning = (w: Error) => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    const store = createMemoryRateLimitStore({ now: c.now, maxKeys: 3 });
    const hit = (key: string, windowMs = 60_000) => store.hit([{ key, limit: 1, windowMs }]);
    await hit('a', 30_000);
    c.advance(1_000);
    await hit('b');
    await hit('c');
    // every key is at its limit: none may go, so the newcomer waits for the first guard to end (a's, 29 s away)
    const refused = await hit('d');
    assert.deepEqual(refused, { allowed: false, results: [{ remaining: 0, resetMs: 0, retryAfterMs: 29_000 }] });
    assert.equal((await hit('e')).allowed, false);
    assert.deepEqual(store.stats(), { keys: 3, guardedKeys: 3, evictions: 0, refusedWhenFull: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    const full = warnings.filter((w) => w.code === STORE_FULL_WARNING);
    assert.equal(full.length, 1, 'one warning when the pressure starts');
    assert.match(full[0]!.message, /full .* refused until those windows end .* raise maxKeys/);
    c.advance(29_000); // a's guard (and window) has ended: a can go
    assert.equal((await hit('d')).allowed, true);
    assert.equal((await hit('b')).allowed, false, 'b is still guarded, and kept');
    assert.deepEqual(store.stats(), { keys: 3, guardedKeys: 3, evictions: 1, refusedWhenFull: 2 });
  } finally {
    process.off('warning', onWarning);
  }
});

test('a client refused within its window stays guarded even once its count drops under the limit', async () => {
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now, maxKeys: 2 });
  const k = { key: 'k', limit: 2, windowMs: 10_000 };
  await store.hit([k]);
  c.advance(5_000);
  await store.hit([k]);
  assert.equal((await store.hit([k])).allowed, false); // refused at 5 s: guarded until 15 s
  c.advance(6_000); // the first entry left: k is under its limit again
  assert.equal((await store.hit([k])).allowed, true);
  await store.hit([{ key: 'x', limit: 5, windowMs: 10_000 }]);
  await store.hit([{ key: 'y', limit: 5, windowMs: 10_000 }]); // evicts x, not k
  assert.equal(store.evictions(), 1);
  assert.equal((await store.hit([k])).allowed, false, 'k kept its count');
});

test('evicts in least-recently-used order, as a plain LRU model does, over a long random run', async () => {
  const store = createMemoryRateLimitStore({ now: () => 0, maxKeys: 5 });
  const model = new Map<string, number>(); // key -> count, in recency order
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 5000; i++) {
    const key = `k${Math.floor(random() * 12)}`;
    const count = (model.get(key) ?? 0) + 1;
    model.delete(key);
    model.set(key, count);
    if (model.size > 5) model.delete(model.keys().next().value!);
    const r = await store.hit([{ key, limit: 10_000, windowMs: 60_000 }]);
    assert.equal(r.results[0]!.remaining, 10_000 - count, `hit ${i} of ${key}`);
  }
});
