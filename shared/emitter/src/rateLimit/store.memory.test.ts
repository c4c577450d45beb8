import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { assertNeverOver, leastAdmitted, patterns, seeded } from './adversary.test-support.ts';
import { createMemoryRateLimitStore, STORE_FULL_WARNING } from './store.memory.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Runs arrival times (ms) through one key of a store on a test clock; returns the admitted times and the refusals with their Retry-After. */
async function run(times: readonly number[], check: { limit: number; windowMs: number }, buckets?: number) {
  let t = 0;
  const store = createMemoryRateLimitStore({ now: () => t, ...(buckets !== undefined && { buckets }) });
  const admitted: number[] = [];
  const refused: Array<{ at: number; retryAfterMs: number }> = [];
  for (const at of times) {
    t = at;
    const r = await store.hit([{ key: 'k', ...check }]);
    if (r.allowed) admitted.push(at);
    else refused.push({ at, retryAfterMs: r.results[0]!.retryAfterMs });
  }
  return { admitted, refused };
}

test('an adversary timing its requests (edge bursts, steady rates, 80 random runs) never gets more than the limit in any window of W', async () => {
  for (const { limit, windowMs, buckets } of [
    { limit: 5, windowMs: 10_000, buckets: 10 },
    { limit: 100, windowMs: 60_000, buckets: 10 },
    { limit: 7, windowMs: 3_000, buckets: 3 }, // a bucket of 1,000 ms
    { limit: 3, windowMs: 1_000, buckets: 7 }, // a bucket of 142.86 ms: edges between whole ms
  ]) {
    const durationMs = 20 * windowMs;
    for (const { name, times } of patterns(1_700_000_000_000, durationMs, windowMs, buckets, limit)) {
      const { admitted, refused } = await run(times, { limit, windowMs }, buckets);
      const what = `${name}, ${limit} per ${windowMs} ms in ${buckets} buckets`;
      assertNeverOver(admitted, limit, windowMs, what);
      for (const { at, retryAfterMs } of refused) {
        assert.ok(retryAfterMs >= 1, `${what}: a refusal at ${at} said to retry after ${retryAfterMs} ms`);
        // never too early: nothing is admitted before the time it gave
        const next = admitted.find((a) => a > at);
        assert.ok(next === undefined || next >= at + retryAfterMs, `${what}: refused at ${at} with Retry-After ${retryAfterMs} ms, yet ${next} was admitted`);
      }
      const steady = /^steady at ([\d.]+)x/.exec(name);
      if (steady) {
        const gapMs = Math.ceil(windowMs / (limit * Number(steady[1]))) + 1;
        const least = leastAdmitted(durationMs, windowMs, buckets, limit, gapMs);
        assert.ok(admitted.length >= least, `${what}: ${admitted.length} admitted, at least ${least} expected`);
      }
      if (name === 'bursts at every bucket edge') {
        // Requests waiting at every edge take each count's place as soon as it leaves: L per W + W/N, N/(N+1) of the limit.
        const least = limit * Math.floor(durationMs / (windowMs + windowMs / buckets));
        assert.ok(admitted.length >= least, `${what}: ${admitted.length} admitted, at least ${least} (N/(N+1) of the limit) expected`);
        assert.ok(admitted.length <= (limit * durationMs) / windowMs + limit, `${what}: ${admitted.length} admitted`);
      }
    }
  }
});

test('a client that waits its Retry-After is admitted then, every time', async () => {
  let t = 1_700_000_000_123;
  const store = createMemoryRateLimitStore({ now: () => t });
  const random = seeded(3);
  const check = [{ key: 'k', limit: 4, windowMs: 10_000 }];
  let refusals = 0;
  for (let i = 0; i < 400; i++) {
    const r = await store.hit(check);
    if (r.allowed) {
      t += Math.floor(random() * 1500); // presses on, a little irregularly
      continue;
    }
    refusals++;
    const wait = r.results[0]!.retryAfterMs;
    assert.ok(wait >= 1);
    t += wait - 1;
    assert.equal((await store.hit(check)).allowed, false, 'not a ms before it said');
    t += 1;
    assert.equal((await store.hit(check)).allowed, true, `admitted after waiting ${wait} ms`);
  }
  assert.ok(refusals > 50);
});

test('a key at a high limit: 10,000 counts in nine buckets, refused until the oldest bucket leaves whole', async () => {
  let t = 0;
  const store = createMemoryRateLimitStore({ now: () => t });
  for (let i = 0; i < 10_000; i++) {
    t += 5;
    assert.equal((await store.hit([{ key: 'hot', limit: 10_000, windowMs: 60_000 }])).allowed, true);
  }
  // at 50 s: the 10,000 counts sit in 9 buckets of 6 s; the 10,001st is refused until the first (1,199 of them) leaves
  const r = await store.hit([{ key: 'hot', limit: 10_000, windowMs: 60_000 }]);
  assert.deepEqual(r, { allowed: false, results: [{ remaining: 0, resetMs: 16_000, retryAfterMs: 16_000 }] });
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
  // The five were counted in the bucket of 54 to 60 s, which leaves the window whole at 120 s: a second later than a log would say.
  c.advance(1_000);
  assert.equal((await store.hit(check)).allowed, false);
  c.advance(1_000);
  assert.equal((await store.hit(check)).allowed, true);
});

test('remaining, reset and retry-after', async () => {
  // The clock starts on a bucket edge (buckets of 1 s): a count made now leaves the 10 s window whole 11 s later.
  const c = clock();
  const store = createMemoryRateLimitStore({ now: c.now });
  const check = [{ key: 'k', limit: 2, windowMs: 10_000 }];
  assert.deepEqual((await store.hit(check)).results[0], { remaining: 1, resetMs: 11_000, retryAfterMs: 0 });
  c.advance(3_000);
  assert.deepEqual((await store.hit(check)).results[0], { remaining: 0, resetMs: 8_000, retryAfterMs: 0 });
  c.advance(1_000);
  const refused = await store.hit(check);
  assert.equal(refused.allowed, false);
  assert.deepEqual(refused.results[0], { remaining: 0, resetMs: 7_000, retryAfterMs: 7_000 });
  c.advance(7_000);
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
  // counts in the buckets of 0..4 s, now 5 s; with a limit of 2 the count must drop to 1, so four must leave: the fourth (3 to 4 s) leaves whole at 14 s
  const r = await store.hit([{ key: 'k', limit: 2, windowMs: 10_000 }]);
  assert.deepEqual(r, { allowed: false, results: [{ remaining: 0, resetMs: 6_000, retryAfterMs: 9_000 }] });
});

test('bounded: least recently used keys are evicted beyond maxKeys', async () => {
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
  // maxEntries bounded the old log's entries; a key's counts no longer grow with its limit, so it is accepted and unused
  const old = createMemoryRateLimitStore({ now: c.now, maxKeys: 100, maxEntries: 10 });
  for (let i = 0; i < 20; i++) await old.hit([{ key: `k${i}`, limit: 5, windowMs: 60_000 }]);
  assert.equal(old.size(), 20);
});

test('bad options fail at construction', () => {
  assert.throws(() => createMemoryRateLimitStore({ maxKeys: 0 }), /maxKeys must be a whole number/);
  assert.throws(() => createMemoryRateLimitStore({ maxEntries: 1.5 }), /maxEntries/);
  assert.throws(() => createMemoryRateLimitStore({ buckets: 0 }), /buckets must be the number of parts a window is cut into, a whole number from 1 to 100, not 0/);
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
    // every key is at its limit: none may go, so the newcomer waits for the first guard to end (a's, when its
    // count leaves whole: its 3 s bucket of 999 to 1,002 s leaves the 30 s window at 1,032 s, 31 s away)
    const refused = await hit('d');
    assert.deepEqual(refused, { allowed: false, results: [{ remaining: 0, resetMs: 0, retryAfterMs: 31_000 }] });
    assert.equal((await hit('e')).allowed, false);
    assert.deepEqual(store.stats(), { keys: 3, guardedKeys: 3, evictions: 0, refusedWhenFull: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    const full = warnings.filter((w) => w.code === STORE_FULL_WARNING);
    assert.equal(full.length, 1, 'one warning when the pressure starts');
    assert.match(full[0]!.message, /full .* refused until those windows end .* raise maxKeys/);
    c.advance(31_000); // a's guard (and window) has ended: a can go
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
