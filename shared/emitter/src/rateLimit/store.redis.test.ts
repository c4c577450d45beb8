/** The bucketed sliding-window script against a real redis-server of the test's own (test/support/redisServer.ts), on its clock. */
import { test, beforeAll, afterAll } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { createRedisClient } from '@ipwatch/core/redis';
import { startRedisServer, type TestRedis } from '../../../../test/support/redisServer.ts';
import { EmitterOptionError } from '../errors.ts';
import { patterns } from './adversary.test-support.ts';
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

/** A time in ms (fractional) on this machine's monotonic clock. */
const clockMs = (): number => performance.timeOrigin + performance.now();
/**
 * How far Redis's clock (TIME: the wall clock) may wander from the monotonic one the test
 * reads, over a test: this machine's time sync moves the wall clock by a few ms (measured:
 * -3.4 to +0.9 ms over 20 s). A tenth of the smallest bucket here: an off-by-one-bucket bug still shows.
 */
const CLOCK_SLACK_MS = 10;

/**
 * Hits one key at the given local times (ms), concurrently; returns each admitted request's
 * bracket (sent, answered): the server's time of the check lies within it.
 */
async function press(key: string, limit: number, windowMs: number, at: readonly number[]) {
  const admitted: Array<{ sent: number; answered: number }> = [];
  const refused: Array<{ answered: number; retryAfterMs: number }> = [];
  await Promise.all(
    at.map(async (when) => {
      const wait = when - clockMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sent = clockMs();
      const r = await store.hit([{ key, limit, windowMs }]);
      const answered = clockMs();
      if (r.allowed) admitted.push({ sent, answered });
      else refused.push({ answered, retryAfterMs: r.results[0]!.retryAfterMs });
    }),
  );
  return { admitted, refused };
}

/**
 * Never more than the limit in any window of W by the server's clock, checked from the
 * brackets: L + 1 admitted requests span more than W - 1 ms of server time (whole ms), so the
 * last answer of any L + 1 (in the order sent) comes more than W - 1 ms after the first was
 * sent (less the wall clock's wander, CLOCK_SLACK_MS).
 */
function assertNeverOverByBrackets(admitted: ReadonlyArray<{ sent: number; answered: number }>, limit: number, windowMs: number, what: string): void {
  const bySent = [...admitted].sort((a, b) => a.sent - b.sent);
  for (let i = 0; i + limit < bySent.length; i++) {
    let last = 0;
    for (let j = i; j <= i + limit; j++) last = Math.max(last, bySent[j]!.answered);
    assert.ok(last - bySent[i]!.sent > windowMs - 1 - CLOCK_SLACK_MS, `${what}: ${limit + 1} admitted within ${(last - bySent[i]!.sent).toFixed(1)} ms`);
  }
}

test('never more than N admitted in any window of W, by the server clock, under concurrent load; N/(N+1) of it to a client that presses on', async () => {
  const key = fresh('sliding');
  const limit = 5;
  const windowMs = 1000;
  const admitted: Array<{ sent: number; answered: number }> = [];
  let refused = 0;
  const started = clockMs();
  const deadline = started + 3500;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (clockMs() < deadline) {
        const sent = clockMs();
        const r = await store.hit([{ key, limit, windowMs }]);
        if (r.allowed) admitted.push({ sent, answered: clockMs() });
        else refused++;
      }
    }),
  );
  const ttl = await store.client.pttl(key);
  assert.ok(refused > 1000, `the loop pressed hard (${refused} refused)`);
  assertNeverOverByBrackets(admitted, limit, windowMs, 'hammered by 16 callers');
  // and not stricter than the bucketed window: L per W + W/N at least (a count leaves at most W/N after its window), at most L per W
  const ran = clockMs() - started;
  assert.ok(admitted.length >= limit * Math.floor(ran / (windowMs * 1.1)) && admitted.length <= limit * Math.ceil(ran / windowMs), `admitted ${admitted.length} in ${ran.toFixed(0)} ms`);
  assert.ok(ttl > 0 && ttl <= windowMs * 1.1, `the key expires when its newest count leaves the window, W + W/N at most (pttl ${ttl})`);
});

test('an adversary timing its requests on the server clock (bucket-edge bursts, the fixed-window attack, steady, random) never gets more than the limit in a window', async () => {
  const windowMs = 2000;
  const limit = 10;
  const buckets = 10;
  const start = Math.ceil((clockMs() + 200) / windowMs) * windowMs; // a window edge of the server's grid (epoch-based, as the script's)
  const chosen = patterns(start, 2 * windowMs, windowMs, buckets, limit).filter((p) => !/seed ([4-9]|\d\d)$/.test(p.name)); // edge bursts, doubles, 4 steady rates, 3 seeds of each random kind
  const runs = await Promise.all(chosen.map(async (p) => ({ name: p.name, ...(await press(fresh('adversary'), limit, windowMs, p.times)) })));
  for (const { name, admitted, refused } of runs) {
    assertNeverOverByBrackets(admitted, limit, windowMs, name);
    for (const { retryAfterMs } of refused) assert.ok(retryAfterMs >= 1 && retryAfterMs <= windowMs * 1.1, `${name}: Retry-After ${retryAfterMs} ms`);
  }
  const edges = runs.find((r) => r.name === 'bursts at every bucket edge')!;
  assert.ok(edges.admitted.length >= limit, `the edge bursts were admitted up to the limit (${edges.admitted.length})`);
});

test('Retry-After is never 0 on a refusal, and the request is admitted after waiting it', async () => {
  const key = fresh('retry');
  const check = [{ key, limit: 3, windowMs: 1000 }];
  for (let round = 0; round < 3; round++) {
    let r = await store.hit(check);
    while (r.allowed) r = await store.hit(check);
    const wait = r.results[0]!.retryAfterMs;
    assert.ok(wait >= 1 && wait <= 1100, `Retry-After ${wait} ms`);
    // (timers run on the monotonic clock, Redis on the wall clock: the slack covers the wall clock's steps)
    await new Promise((resolve) => setTimeout(resolve, wait + CLOCK_SLACK_MS));
    assert.equal((await store.hit(check)).allowed, true, `round ${round}: admitted after waiting ${wait} ms`);
  }
});

test('remaining, reset and retry-after from the script', async () => {
  const key = fresh('figures');
  const check = [{ key, limit: 2, windowMs: 10_000 }];
  const first = await store.hit(check);
  assert.equal(first.allowed, true);
  assert.equal(first.results[0]!.remaining, 1);
  assert.equal(first.results[0]!.retryAfterMs, 0);
  // the count leaves with its whole bucket (1 s of the 10 s window): 10 to 11 s from now
  assert.ok(first.results[0]!.resetMs > 10_000 && first.results[0]!.resetMs <= 11_000, `resetMs ${first.results[0]!.resetMs}`);
  const second = await store.hit(check);
  assert.equal(second.results[0]!.remaining, 0);
  assert.ok(second.results[0]!.resetMs <= first.results[0]!.resetMs && second.results[0]!.resetMs > 9_000);
  const third = await store.hit(check);
  assert.equal(third.allowed, false);
  assert.equal(third.results[0]!.remaining, 0);
  assert.ok(third.results[0]!.retryAfterMs > 9_000 && third.results[0]!.retryAfterMs <= 11_000);
  const fourth = await store.hit(check);
  assert.equal(fourth.results[0]!.remaining, 0, 'the refusals were not counted');
});

test('one short string per key, whatever the limit: a key at 1,000 an hour with 1,000 counted takes <= 256 bytes of Redis memory', async () => {
  const key = `ipwatch:rl:anonymous:203.0.113.${keyN++}`;
  await store.client.del(key);
  const check = [{ key, limit: 1000, windowMs: 3_600_000 }];
  const replies = await Promise.all(Array.from({ length: 1001 }, () => store.hit(check)));
  assert.equal(replies.filter((r) => r.allowed).length, 1000);
  assert.equal(await store.client.type(key), 'string');
  assert.equal(await store.client.strlen(key), 4 + 2 * 11, 'the newest bucket and 11 counts of 16 bits');
  const bytes = Number(await store.client.memory('USAGE', key));
  assert.ok(bytes <= 256, `MEMORY USAGE ${bytes}`);
  const ttl = await store.client.pttl(key);
  assert.ok(ttl > 3_600_000 && ttl <= 3_960_000, `expires when its newest count leaves: W to W + W/N (pttl ${ttl})`);
});

test('several keys in one call: admitted only if all are under, then recorded in all, atomically across concurrent callers', async () => {
  const user = fresh('user');
  const ips = [fresh('ipA'), fresh('ipB'), fresh('ipC')];
  const results = await Promise.all(
    Array.from({ length: 60 }, (_, i) => store.hit([{ key: ips[i % 3]!, limit: 100, windowMs: 60_000 }, { key: user, limit: 7, windowMs: 60_000 }])),
  );
  assert.equal(results.filter((r) => r.allowed).length, 7);
  const after = await Promise.all([...ips, user].map((key) => store.hit([{ key, limit: 100, windowMs: 60_000 }])));
  assert.equal(after[3]!.results[0]!.remaining, 100 - 8, 'the user key counted the 7 admitted (and this one)');
  const perIp = after.slice(0, 3).reduce((n, r) => n + (100 - 1 - r.results[0]!.remaining), 0);
  assert.equal(perIp, 7, 'refused requests charged no IP key');
  const refused = results.find((r) => !r.allowed)!;
  assert.equal(refused.results[0]!.retryAfterMs, 0);
  assert.ok(refused.results[1]!.retryAfterMs > 0);

  const three = await store.hit([
    { key: fresh('x'), limit: 1, windowMs: 1000 },
    { key: fresh('y'), limit: 2, windowMs: 2000 },
    { key: fresh('z'), limit: 3, windowMs: 3000 },
  ]);
  assert.deepEqual(three.results.map((r) => r.remaining), [0, 1, 2]);
  three.results.forEach((r, i) => {
    const w = (i + 1) * 1000;
    assert.ok(r.resetMs > w && r.resetMs <= w * 1.1, `key ${i}: resetMs ${r.resetMs}`);
  });
});

test("a key the previous design left (a sorted set of admission times) is converted on first use, its counts kept", async () => {
  const key = fresh('zset');
  const [s, us] = await store.client.time();
  const nowUs = Number(s) * 1e6 + Number(us);
  // two admitted 0.5 s and 0.1 s ago, one long gone
  await store.client.zadd(key, nowUs - 500_000, `a`, nowUs - 100_000, 'b', nowUs - 50_000_000, 'old');
  const r = await store.hit([{ key, limit: 3, windowMs: 2000 }]);
  assert.equal(r.allowed, true);
  assert.equal(r.results[0]!.remaining, 0, 'the two recent ones still count');
  assert.equal(await store.client.type(key), 'string');
  assert.equal((await store.hit([{ key, limit: 3, windowMs: 2000 }])).allowed, false);
});

test('a server that lost the script (SCRIPT FLUSH, restart) gets it again', async () => {
  const key = fresh('noscript');
  await store.hit([{ key, limit: 5, windowMs: 60_000 }]);
  await store.client.script('FLUSH');
  const r = await store.hit([{ key, limit: 5, windowMs: 60_000 }]);
  assert.equal(r.results[0]!.remaining, 3);
});

test('a key packed with another number of buckets reads as empty (every instance must use the same), then as its own', async () => {
  const key = fresh('buckets');
  const other = createRedisRateLimitStore({ redis: store.client, buckets: 4 });
  await other.hit([{ key, limit: 2, windowMs: 60_000 }]);
  assert.equal(await store.client.strlen(key), 4 + 2 * 5);
  assert.equal((await store.hit([{ key, limit: 2, windowMs: 60_000 }])).results[0]!.remaining, 1);
  assert.equal((await store.hit([{ key, limit: 2, windowMs: 60_000 }])).results[0]!.remaining, 0);
  assert.throws(() => createRedisRateLimitStore({ redis: store.client, buckets: 101 }), /buckets must be .* from 1 to 100/);
});

test('checks issued in one event-loop turn share one script call, each answered atomically and in order', async () => {
  const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await store.client.info('commandstats'))?.[1] ?? 0);
  const key = fresh('turn');
  const before = await calls();
  const results = await Promise.all(Array.from({ length: 10 }, () => store.hit([{ key, limit: 4, windowMs: 60_000 }])));
  assert.equal((await calls()) - before, 1, 'one EVALSHA for the ten');
  assert.deepEqual(results.map((r) => r.allowed), [true, true, true, true, false, false, false, false, false, false]);
  assert.deepEqual(results.map((r) => r.results[0]!.remaining), [3, 2, 1, 0, 0, 0, 0, 0, 0, 0], 'in the order issued');
  const unbatched = createRedisRateLimitStore({ redis: store.client, batching: false });
  const before2 = await calls();
  await Promise.all(Array.from({ length: 5 }, () => unbatched.hit([{ key: fresh('unbatched'), limit: 4, windowMs: 60_000 }])));
  assert.equal((await calls()) - before2, 5, 'batching: false, one call per check');
});

test('a key of another type fails its own check only, not the others sent in the same call', async () => {
  const bad = fresh('wrongtype-batch');
  await store.client.hset(bad, 'x', '1');
  const settled = await Promise.allSettled([
    store.hit([{ key: fresh('ok1'), limit: 5, windowMs: 60_000 }]),
    store.hit([{ key: bad, limit: 5, windowMs: 60_000 }]),
    store.hit([{ key: fresh('ok2'), limit: 5, windowMs: 60_000 }]),
  ]);
  assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.match(String((settled[1] as PromiseRejectedResult).reason), /WRONGTYPE/);
});

test('a key of another type is an error (the store is unusable for it), never a verdict', async () => {
  const key = fresh('wrongtype');
  await store.client.hset(key, 'x', '1');
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
