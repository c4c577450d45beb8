/**
 * The sliding-window log in Redis, shared by every instance of an app. One request check
 * is ONE script call (EVALSHA; EVAL when the server does not have the script), whatever
 * the number of keys, so "admit only if every key is under its limit, then record in every
 * key" is atomic across instances. Time is the Redis server's (TIME inside the script):
 * app clocks that disagree cannot widen a window. A command error or timeout rejects (the
 * fallback policy decides, store.fallback.ts); it is never read as a verdict.
 *
 * Key layout: one sorted set per key, members "<sec>.<usec>-<n>" scored by the admission
 * time in microseconds, PEXPIRE'd by the window at each admission (an idle key vanishes
 * once its last entry is out of the window). Keys are used as the limiter names them:
 * "<keyPrefix><rule>:<limitKey>", e.g. "ipwatch:rl:anonymous:203.0.113.7",
 * "ipwatch:rl:anonymous:2001:db8:1:2::/64", "ipwatch:rl:authenticated:user:42",
 * "ipwatch:rl:login:login-user:alice". A check's keys may hash to different slots, so this
 * store needs one Redis (with replicas if you like), not Redis Cluster. Needs Redis >= 3.2
 * (script effects replication; the default from 5).
 */
import { createHash } from 'node:crypto';
import { firstEvent } from '@ipwatch/core/deadline';
import { createRedisClient, type Redis } from '@ipwatch/core/redis';
import { EmitterOptionError } from '../errors.ts';
import { wholeNumber } from '../optionChecks.ts';
import type { HitResult, RateLimitCheck, RateLimitCheckResult, RateLimitStore } from './store.ts';

/**
 * KEYS[i]: the i-th key; ARGV[2i-1], ARGV[2i]: its limit and window in ms.
 * Returns { allowed (1|0), then per key: remaining, resetMs, retryAfterMs }.
 */
export const SLIDING_WINDOW_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local counts = {}
local allowed = 1
for i = 1, n do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - tonumber(ARGV[2 * i]) * 1000)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= tonumber(ARGV[2 * i - 1]) then allowed = 0 end
end
local out = { allowed }
local member = t[1] .. '.' .. t[2] .. '-'
for i = 1, n do
  local key = KEYS[i]
  local limit = tonumber(ARGV[2 * i - 1])
  local windowMs = tonumber(ARGV[2 * i])
  local win = windowMs * 1000
  local count = counts[i]
  local reset = 0
  local retry = 0
  if allowed == 1 then
    redis.call('ZADD', key, now, member .. count)
    redis.call('PEXPIRE', key, windowMs)
    if count == 0 then reset = windowMs end
    count = count + 1
  elseif count >= limit then
    local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    retry = math.ceil((tonumber(e[2]) + win - now) / 1000)
  end
  if count > 0 and reset == 0 then
    local o = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = math.ceil((tonumber(o[2]) + win - now) / 1000)
  end
  local remaining = limit - count
  if remaining < 0 then remaining = 0 end
  out[3 * i - 1] = remaining
  out[3 * i] = reset
  out[3 * i + 1] = retry
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

/** KEYS then ARGV (limit, window per key), as the script reads them. */
function scriptArgs(checks: readonly RateLimitCheck[]): ScriptArg[] {
  const n = checks.length;
  const args: ScriptArg[] = new Array(3 * n);
  for (let i = 0; i < n; i++) {
    const c = checks[i]!;
    args[i] = c.key;
    args[n + 2 * i] = c.limit;
    args[n + 2 * i + 1] = c.windowMs;
  }
  return args;
}

function parseReply(reply: unknown): HitResult {
  if (!Array.isArray(reply) || reply.length < 4 || (reply.length - 1) % 3 !== 0) {
    throw new UnexpectedReplyError(`rate-limit script answered ${JSON.stringify(reply)?.slice(0, 200)}`);
  }
  const n = (reply.length - 1) / 3;
  const results: RateLimitCheckResult[] = new Array(n);
  for (let i = 0, j = 1; i < n; i++, j += 3) {
    results[i] = { remaining: reply[j] as number, resetMs: reply[j + 1] as number, retryAfterMs: reply[j + 2] as number };
  }
  return { allowed: reply[0] === 1, results };
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

  // EVALSHA, and EVAL once when the server does not know the script (first use, after a
  // restart or SCRIPT FLUSH). Not ioredis's defineCommand: its wrapper adds a promise and
  // closures to every call (measured: ~1 us of CPU per check) to save this one retry.
  function send(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    const n = checks.length;
    if (n === 0) return Promise.resolve({ allowed: true, results: [] });
    // One key (nearly every request) without building an argument array.
    if (n === 1) {
      const a = checks[0]!;
      return client.evalsha(SCRIPT_SHA, 1, a.key, a.limit, a.windowMs).then(parseReply, (err: unknown) => retryAsEval(err, checks));
    }
    return client.evalsha(SCRIPT_SHA, n, ...scriptArgs(checks)).then(parseReply, (err: unknown) => retryAsEval(err, checks));
  }

  function retryAsEval(err: unknown, checks: readonly RateLimitCheck[]): Promise<HitResult> {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) return Promise.reject(err);
    return client.eval(SLIDING_WINDOW_SCRIPT, checks.length, ...scriptArgs(checks)).then(parseReply);
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
