/**
 * The bucketed sliding window (buckets.ts) in Redis, shared by every instance of an app. One
 * request check is answered by ONE script call (EVALSHA; EVAL when the server does not have
 * the script), whatever the number of keys, so "admit only if every key is under its limit,
 * then count in every key" is atomic across instances; the checks of one event-loop turn
 * share that call (each still atomic, in order). Time is the Redis server's (TIME inside the
 * script): app clocks that disagree cannot widen a window. A command error or timeout
 * rejects (the fallback policy decides, store.fallback.ts); it is never read as a verdict.
 *
 * Key layout: one short string per key, whatever the limit: the newest bucket's index
 * (modulo 2^32) and the N + 1 counts, packed little-endian as a 4-byte and N + 1 2-byte
 * unsigned integers (26 bytes with N = 10; about 120 bytes of Redis memory with the key, see
 * bench/ratelimit.bench.ts). It is written only when a request is admitted, with an expiry
 * at the moment its newest count leaves the window (at most W + W/N later), so an idle key
 * vanishes. Keys are used as the limiter names them: "<keyPrefix><rule>:<limitKey>", e.g.
 * "ipwatch:rl:anonymous:203.0.113.7", "ipwatch:rl:anonymous:2001:db8:1:2::/64",
 * "ipwatch:rl:authenticated:user:42", "ipwatch:rl:login:login-user:alice". A check's keys may
 * hash to different slots, so this store needs one Redis (with replicas if you like), not
 * Redis Cluster. Needs Redis >= 3.2 (script effects replication; the default from 5).
 *
 * Every instance sharing a Redis must cut windows into the same number of buckets: a key
 * packed with another number (or for another window length) is read as empty, once. A key
 * the previous design left (a sorted set of admission times) is converted on first use.
 */
import { createHash } from 'node:crypto';
import { firstEvent } from '@ipwatch/core/deadline';
import { createRedisClient, type Redis } from '@ipwatch/core/redis';
import { ReplyError } from 'ioredis';
import { EmitterOptionError } from '../errors.ts';
import { wholeNumber } from '../optionChecks.ts';
import { bucketsOption } from './buckets.ts';
import type { HitResult, RateLimitCheck, RateLimitCheckResult, RateLimitStore } from './store.ts';

/**
 * One call answers one or more checks (those the app issued in one event-loop turn), each
 * atomically and in order. KEYS: every check's keys, one check after another. ARGV[1]: N,
 * the buckets per window; then per check: its number of keys k, then k pairs of limit and
 * window (ms). Returns, per check: allowed (1|0), then per key: remaining, resetMs,
 * retryAfterMs. Times are whole ms of the server's clock; bucket b of a window W holds the
 * requests of [b*W/N, (b+1)*W/N), and all arithmetic is on whole numbers below 2^53 (exact
 * in Lua's doubles).
 */
export const SLIDING_WINDOW_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local floor, ceil = math.floor, math.ceil
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
local N = tonumber(ARGV[1])
local SLOTS = N + 1                         -- the bucket now is in, and the N before it
local FORMAT = '<I4' .. string.rep('H', SLOTS)
local WRAP = 4294967296                     -- the newest index is stored modulo 2^32

local out = {}
local k0, a = 0, 2                          -- this check's keys are KEYS[k0 + i]; its key count is ARGV[a]
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  -- this check's i-th key: limit ARGV[a + 2i - 1], window ARGV[a + 2i]

  -- Pass 1: each key's counts brought to now, and their sum.
  -- newest[i]: the full index of the bucket counts[i][1] holds; counts[i][j]: admitted in bucket newest[i] - (j - 1).
  local newest, counts, totals, dirty = {}, {}, {}, {}
  local allowed = 1
  for i = 1, n do
    local key = KEYS[k0 + i]
    local window = tonumber(ARGV[a + 2 * i])
    local cur = floor(now * N / window)     -- the bucket now is in
    local c = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
    for j = 12, SLOTS do c[j] = 0 end       -- more than 10 buckets
    local top = cur
    local value = redis.pcall('GET', key)
    if type(value) == 'string' and #value == 4 + 2 * SLOTS then
      local stored = { struct.unpack(FORMAT, value) } -- newest index mod 2^32, SLOTS counts, next position
      local shift = (cur - stored[1]) % WRAP  -- buckets passed since the newest count
      if shift <= N then
        -- Move each count shift buckets older; those pushed past the oldest have left the window.
        for j = shift + 1, SLOTS do c[j] = stored[1 + j - shift] end
      else
        local back = (stored[1] - cur) % WRAP
        if back <= N then
          -- The clock is behind the newest count (a failover, a clock step): keep counting into
          -- the newest bucket, which then leaves later than it would have (the safe side).
          for j = 1, SLOTS do c[j] = stored[1 + j] end
          top = cur + back
        end
        -- else every count left long ago, or the key was written for another window length: empty
      end
    elseif type(value) == 'table' and value.err then
      if redis.call('TYPE', key).ok ~= 'zset' then error(value) end
      -- Left by the previous design: one member per admitted request, scored by its time in us.
      -- Count each one still in the window into its bucket; the set is replaced below.
      local scored = redis.call('ZRANGEBYSCORE', key, (now - 2 * window) * 1000, '+inf', 'WITHSCORES')
      for k = 2, #scored, 2 do
        local j = cur - floor(floor(tonumber(scored[k]) / 1000) * N / window) + 1
        if j < 1 then j = 1 end
        if j <= SLOTS then c[j] = c[j] + 1 end
      end
      redis.call('DEL', key)
      dirty[i] = true
    end
    -- (no key, or one packed for another number of buckets: empty)
    local total = 0
    for j = 1, SLOTS do total = total + c[j] end
    newest[i], counts[i], totals[i] = top, c, total
    -- The oldest bucket is partly out of the window, but counted whole: never over the limit.
    if total >= tonumber(ARGV[a + 2 * i - 1]) then allowed = 0 end
  end

  -- Pass 2: count the request in every key if admitted, and the figures of each.
  local o = #out
  out[o + 1] = allowed
  for i = 1, n do
    local limit = tonumber(ARGV[a + 2 * i - 1])
    local window = tonumber(ARGV[a + 2 * i])
    local c, total, top = counts[i], totals[i], newest[i]
    -- Bucket b leaves every window at (b + N + 1) * W / N: ms from now until bucket top - (j - 1) does.
    local base = (top + SLOTS + 1) * window - now * N
    if allowed == 1 then
      c[1] = c[1] + 1
      total = total + 1
    end
    if allowed == 1 or dirty[i] then
      -- Kept until its newest count leaves the window: at most W + W/N from now.
      redis.call('SET', KEYS[k0 + i], struct.pack(FORMAT, top % WRAP, unpack(c, 1, SLOTS)), 'PX', ceil((base - window) / N))
    end
    -- resetMs: until the oldest counted request leaves; retryAfterMs (refused by this key):
    -- until enough of the oldest buckets have left for the sum to drop under the limit.
    local reset, retry = 0, 0
    if total > 0 then
      local j = SLOTS
      while c[j] == 0 do j = j - 1 end
      reset = ceil((base - j * window) / N)
      if allowed == 0 and total >= limit then
        local left = total - c[j]
        while left >= limit do
          j = j - 1
          left = left - c[j]
        end
        retry = ceil((base - j * window) / N)
      end
    end
    local remaining = limit - total
    if remaining < 0 then remaining = 0 end
    out[o + 3 * i - 1] = remaining
    out[o + 3 * i] = reset
    out[o + 3 * i + 1] = retry
  end
  k0 = k0 + n
  a = a + 1 + 2 * n
end
return out
`;

const SCRIPT_SHA = createHash('sha1').update(SLIDING_WINDOW_SCRIPT).digest('hex');

type ScriptArg = string | number;

export interface RedisRateLimitStoreOptions {
  /**
   * A Redis URL (the store makes its client with createRedisClient and closes it on close()),
   * or a client of yours made with createRedisClient (you close it). A client needs a
   * command timeout: a check must never wait longer than that.
   */
  redis: string | Redis;
  /** Deadline of one check, ms, for a client made from a URL (default 250). */
  commandTimeoutMs?: number;
  /** Batch the checks issued in one tick into one write, for a client made from a URL (default true). */
  autoPipelining?: boolean;
  /**
   * Buckets a window is cut into (buckets.ts; default 10): a key's memory grows with them, and
   * a count stays up to W/N after its window. Every instance sharing the Redis must use the same.
   */
  buckets?: number;
  /** Send the checks of one event-loop turn in one script call (default true); false: one call per check. */
  batching?: boolean;
}

export interface RedisRateLimitStore extends RateLimitStore {
  readonly kind: 'redis';
  readonly client: Redis;
  /** Resolves once the client is connected; rejects after `timeoutMs` (default 5000) if it is not. */
  ready(timeoutMs?: number): Promise<void>;
  /** Closes the client if the store made it (from a URL); a client you gave stays open. */
  close(): Promise<void>;
}

function isRedisClient(value: unknown): value is Redis {
  return typeof value === 'object' && value !== null && typeof (value as { defineCommand?: unknown }).defineCommand === 'function';
}

class UnexpectedReplyError extends Error {
  override readonly name = 'UnexpectedReplyError';
}

/** Checks waiting for the end of this event-loop turn, answered by one script call. */
interface Pending {
  checks: readonly RateLimitCheck[];
  resolve: (result: HitResult) => void;
  reject: (err: unknown) => void;
}

/** Most checks in one script call: a flood of checks goes as several calls, so one call never holds Redis long. */
const MAX_BATCH = 64;

/** KEYS then ARGV (buckets, then per check its key count and limit and window per key), as the script reads them. */
function scriptArgs(batch: readonly Pending[], buckets: number): { numKeys: number; args: ScriptArg[] } {
  const keys: ScriptArg[] = [];
  const argv: ScriptArg[] = [buckets];
  for (const { checks } of batch) {
    argv.push(checks.length);
    for (const c of checks) {
      keys.push(c.key);
      argv.push(c.limit, c.windowMs);
    }
  }
  const numKeys = keys.length;
  for (const a of argv) keys.push(a);
  return { numKeys, args: keys };
}

/** Settles each check of the batch from the script's reply. */
function settle(batch: readonly Pending[], reply: unknown): void {
  const expected = batch.reduce((n, p) => n + 1 + 3 * p.checks.length, 0);
  if (!Array.isArray(reply) || reply.length !== expected) {
    const err = new UnexpectedReplyError(`rate-limit script answered ${JSON.stringify(reply)?.slice(0, 200)}`);
    for (const p of batch) p.reject(err);
    return;
  }
  let j = 0;
  for (const p of batch) {
    const n = p.checks.length;
    const allowed = reply[j++] === 1;
    const results: RateLimitCheckResult[] = new Array(n);
    for (let i = 0; i < n; i++, j += 3) {
      results[i] = { remaining: reply[j] as number, resetMs: reply[j + 1] as number, retryAfterMs: reply[j + 2] as number };
    }
    p.resolve({ allowed, results });
  }
}

/**
 * @example
 * const store = createRedisRateLimitStore({ redis: 'redis://127.0.0.1:6379' });
 * await store.hit([{ key: 'ipwatch:rl:login:203.0.113.7', limit: 3, windowMs: 300_000 },
 *                  { key: 'ipwatch:rl:login:login-user:alice', limit: 3, windowMs: 300_000 }]);
 */
export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RedisRateLimitStore {
  const given = options?.redis;
  let client: Redis;
  let owned = false;
  if (typeof given === 'string') {
    if (!/^rediss?:\/\//.test(given)) throw new EmitterOptionError(`redis must be a URL such as redis://127.0.0.1:6379 or a client made with createRedisClient, not ${JSON.stringify(given)}`);
    const commandTimeoutMs = wholeNumber('commandTimeoutMs', options.commandTimeoutMs ?? 250, 1, 60_000, 'ms');
    client = createRedisClient(given, { name: 'ipwatch-ratelimit', commandTimeoutMs, autoPipelining: options.autoPipelining ?? true });
    owned = true;
  } else if (isRedisClient(given)) {
    const timeout = given.options.commandTimeout;
    if (typeof timeout !== 'number' || timeout <= 0) {
      throw new EmitterOptionError('the Redis client has no commandTimeout, so a check could hang while Redis is unreachable: make it with createRedisClient (from @ipwatch/core/redis) or pass a URL');
    }
    client = given;
  } else {
    throw new EmitterOptionError('redis must be a Redis URL (redis://host:port) or an ioredis client made with createRedisClient');
  }
  const deadlineMs = client.options.commandTimeout ?? 250;
  const buckets = bucketsOption(options.buckets);
  const batching = options.batching ?? true;
  if (typeof batching !== 'boolean') throw new EmitterOptionError(`batching must be true or false, not ${JSON.stringify(batching)}`);
  // Load the script on every (re)connection, so checks after a Redis restart do not each
  // pay a NOSCRIPT round trip first. Best effort: a check that meets NOSCRIPT sends EVAL.
  const loadScript = (): void => void client.script('LOAD', SLIDING_WINDOW_SCRIPT).catch(() => {});
  client.on('ready', loadScript);
  if (client.status === 'ready') loadScript();

  function ready(timeoutMs = 5000): Promise<void> {
    if (client.status === 'ready') return Promise.resolve();
    return firstEvent(client, ['ready'], timeoutMs).then((event) => {
      if (event === null) throw new Error(`Redis not connected after ${timeoutMs} ms (status ${client.status})`);
    });
  }

  // Until the first connection is up, checks wait for it (at most one command deadline)
  // instead of failing at once: an app that starts serving before Redis answers its first
  // PING should not log a Redis outage. After that, a lost connection fails fast.
  let connecting: boolean = client.status !== 'ready';
  if (connecting) client.once('ready', () => void (connecting = false));

  function hit(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    if (connecting) return ready(deadlineMs).then(() => send(checks));
    return send(checks);
  }

  // Checks issued in one event-loop turn (the requests whose data arrived together) go to
  // Redis in ONE script call at its end (setImmediate), each still answered atomically and in
  // order: per check, ioredis and Redis then do a fraction of a call's work (measured: ~4 us
  // less app CPU and ~2.5 us less Redis CPU per check in batches of 4 to 8).
  let queued: Pending[] = [];
  let flushing = false;

  function send(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    if (checks.length === 0) return Promise.resolve({ allowed: true, results: [] });
    return new Promise<HitResult>((resolve, reject) => {
      queued.push({ checks, resolve, reject });
      if (!batching) return flush();
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    });
  }

  function flush(): void {
    flushing = false;
    const all = queued;
    queued = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) call(all.length <= MAX_BATCH ? all : all.slice(i, i + MAX_BATCH));
  }

  // EVALSHA, and EVAL once when the server does not know the script (first use, after a
  // restart or SCRIPT FLUSH). Not ioredis's defineCommand: its wrapper adds a promise and
  // closures to every call (measured: ~1 us of CPU per check) to save this one retry.
  function call(batch: Pending[]): void {
    const { numKeys, args } = scriptArgs(batch, buckets);
    client.evalsha(SCRIPT_SHA, numKeys, ...args).then(
      (reply) => settle(batch, reply),
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
          client.eval(SLIDING_WINDOW_SCRIPT, numKeys, ...args).then((reply) => settle(batch, reply), (e: unknown) => failed(batch, e));
        } else {
          failed(batch, err);
        }
      },
    );
  }

  function failed(batch: Pending[], err: unknown): void {
    // An error Redis answered (a key of another type) is one check's: the others are asked
    // again one by one, so only that one fails. A timeout or a lost connection fails them all.
    if (batch.length > 1 && err instanceof ReplyError && !(err as Error).message.startsWith('NOSCRIPT')) {
      for (const p of batch) call([p]);
      return;
    }
    for (const p of batch) p.reject(err);
  }

  return {
    kind: 'redis',
    client,
    hit,
    ready,
    available: () => client.status === 'ready',
    close: async () => {
      client.off('ready', loadScript);
      if (!owned) return;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
