import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createFallbackRateLimitStore, type FallbackState } from './store.fallback.ts';
import type { HitResult, RateLimitCheck, RateLimitStore } from './store.ts';

/** A store whose behaviour the test switches: answering, failing, or hanging until released. */
function switchableStore() {
  let mode: 'up' | 'down' | 'throw' | 'hold' = 'up';
  let calls = 0;
  let available = true;
  const held: Array<() => void> = [];
  const answer: HitResult = { allowed: true, results: [{ remaining: 99, resetMs: 1, retryAfterMs: 0 }] };
  const store: RateLimitStore = {
    kind: 'switchable',
    hit: (_checks: readonly RateLimitCheck[]) => {
      calls++;
      if (mode === 'throw') throw new Error('sync failure');
      if (mode === 'down') return Promise.reject(new Error('connect ECONNREFUSED'));
      if (mode === 'hold') return new Promise<HitResult>((resolve) => held.push(() => resolve({ ...answer })));
      return Promise.resolve({ ...answer });
    },
    available: () => available,
  };
  return {
    store,
    set: (m: typeof mode) => void (mode = m),
    setAvailable: (a: boolean) => void (available = a),
    calls: () => calls,
    release: () => held.splice(0).forEach((r) => r()),
  };
}

const CHECK = [{ key: 'k', limit: 2, windowMs: 60_000 }];

test('memory mode: an error switches to the in-process limiter at once, and back when a probe answers', async () => {
  const p = switchableStore();
  let t = 0;
  const changes: FallbackState[] = [];
  const store = createFallbackRateLimitStore({ primary: p.store, retryIntervalMs: 1000, now: () => t, onStateChange: (s) => changes.push(s) });

  assert.equal((await store.hit(CHECK)).results[0]!.remaining, 99);
  assert.equal(store.state().using, 'primary');

  p.set('down');
  const r1 = await store.hit(CHECK);
  assert.equal(r1.fallback, 'memory');
  const { resetMs, ...rest } = r1.results[0]!;
  assert.deepEqual(rest, { remaining: 1, retryAfterMs: 0 });
  // the in-process limiter runs on the real clock: the count leaves with its bucket (a tenth of the window), 60 to 66 s from now
  assert.ok(resetMs > 60_000 && resetMs <= 66_000, `resetMs ${resetMs}`);
  assert.equal((await store.hit(CHECK)).allowed, true);
  const r3 = await store.hit(CHECK);
  assert.equal(r3.allowed, false, 'the fallback limits with the same semantics');
  assert.equal(p.calls(), 2, 'no store call within the retry interval');
  assert.deepEqual(store.state(), { using: 'fallback', mode: 'memory', since: 0, storeErrors: 1, fallbackChecks: 3, lastError: 'connect ECONNREFUSED' });

  // after the interval one request probes; while it is in flight the others use the fallback
  t = 1000;
  p.set('hold');
  const probe = store.hit(CHECK);
  assert.equal((await store.hit(CHECK)).fallback, 'memory');
  assert.equal(p.calls(), 3);
  p.release();
  assert.equal((await probe).results[0]!.remaining, 99);
  assert.equal(store.state().using, 'primary');
  assert.equal(store.state().since, null);
  assert.deepEqual(changes.map((c) => c.using), ['fallback', 'primary']);
});

test('no probe while the store says it is disconnected', async () => {
  const p = switchableStore();
  let t = 0;
  const store = createFallbackRateLimitStore({ primary: p.store, retryIntervalMs: 100, now: () => t });
  p.set('down');
  await store.hit(CHECK);
  p.setAvailable(false);
  t = 10_000;
  await store.hit(CHECK);
  await store.hit(CHECK);
  assert.equal(p.calls(), 1);
  p.setAvailable(true);
  p.set('up');
  assert.equal((await store.hit(CHECK)).fallback, undefined);
  assert.equal(store.state().using, 'primary');
});

test('a failed probe stays in fallback and waits another interval', async () => {
  const p = switchableStore();
  let t = 0;
  const store = createFallbackRateLimitStore({ primary: p.store, retryIntervalMs: 100, now: () => t });
  p.set('down');
  await store.hit(CHECK);
  t = 100;
  assert.equal((await store.hit(CHECK)).fallback, 'memory');
  assert.equal(p.calls(), 2);
  t = 150;
  await store.hit(CHECK);
  assert.equal(p.calls(), 2);
  assert.equal(store.state().storeErrors, 2);
});

test('a store that throws instead of rejecting is an error like any other', async () => {
  const p = switchableStore();
  const store = createFallbackRateLimitStore({ primary: p.store });
  p.set('throw');
  assert.equal((await store.hit(CHECK)).fallback, 'memory');
  assert.equal(store.state().lastError, 'sync failure');
});

test("'allow' fails open and 'deny' fails closed, saying so", async () => {
  const open = switchableStore();
  open.set('down');
  const allow = createFallbackRateLimitStore({ primary: open.store, mode: 'allow' });
  assert.deepEqual(await allow.hit(CHECK), { allowed: true, results: [{ remaining: 2, resetMs: 0, retryAfterMs: 0 }], fallback: 'allow' });

  const closed = switchableStore();
  closed.set('down');
  const deny = createFallbackRateLimitStore({ primary: closed.store, mode: 'deny', retryIntervalMs: 2000 });
  assert.deepEqual(await deny.hit(CHECK), { allowed: false, results: [{ remaining: 0, resetMs: 2000, retryAfterMs: 2000 }], fallback: 'deny' });
  assert.equal(deny.state().fallbackChecks, 1);
});

test('bad options fail at construction', () => {
  const p = switchableStore();
  assert.throws(() => createFallbackRateLimitStore({ primary: p.store, mode: 'open' as 'allow' }), /fallback must be 'memory'.*'allow' \(fail open\) or 'deny' \(fail closed\)/);
  assert.throws(() => createFallbackRateLimitStore({ primary: {} as RateLimitStore }), /primary must be a RateLimitStore/);
  assert.throws(() => createFallbackRateLimitStore({ primary: p.store, retryIntervalMs: 0 }), /retryIntervalMs/);
});
