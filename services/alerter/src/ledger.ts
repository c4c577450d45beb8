/**
 * What keeps an alert from going out twice: across a restart (the batch that was being sent is
 * read again), across alerter instances (a rebalance hands a partition over mid-batch; two
 * groups read the same detections) and across the day (one daily report, however many
 * alerters run). Redis when configured (the distributed mode), in-process otherwise.
 *
 * A message is claimed before it is sent (a lease held by this process, renewed at each
 * attempt), then marked done (sent, or given up to the DLQ). A claim that finds the message
 * done skips it; one that finds another live process's lease waits for it. A process that
 * dies mid-send leaves a lease that expires, and the next claimant sends.
 */
import type { Redis } from '@ipwatch/core/redis';

/** mine: send it; done: sent (or given up) already; busy: another process holds its lease. */
export type ClaimResult = 'mine' | 'done' | 'busy';

export interface AlertLedger {
  /** Takes (or renews) the lease on `key` for `owner`, unless it is done or leased to another. */
  claim(key: string, owner: string, leaseMs: number): Promise<ClaimResult>;
  /** Marks `key` done for `keepMs` (long enough to outlive any re-delivery). */
  done(key: string, keepMs: number): Promise<void>;
  /** Gives a lease back (a stop mid-send), so that the next claimant need not wait for it to expire. */
  release(key: string, owner: string): Promise<void>;
  /**
   * The quiet period of `key` (a client and a rule): true when `alertId` opens it or already
   * holds it (the same alert read again), false while another alert holds it.
   */
  quiet(key: string, alertId: string, ms: number): Promise<boolean>;
  close(): Promise<void>;
}

const DONE = 'done';

/** The in-process ledger (embedded mode: one alerter, and an event log that starts empty each run). */
export function createMemoryLedger(now: () => number = Date.now): AlertLedger {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const get = (key: string): string | undefined => {
    const e = entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e.value;
  };
  let sweeps = 0;
  const set = (key: string, value: string, ms: number): void => {
    entries.set(key, { value, expiresAt: now() + ms });
    // Now and then, drop what has expired: the ledger stays as big as the keys alive.
    if (++sweeps % 1000 === 0) for (const k of [...entries.keys()]) get(k);
  };
  return {
    async claim(key, owner, leaseMs) {
      const v = get(key);
      if (v === DONE) return 'done';
      if (v !== undefined && v !== `lease:${owner}`) return 'busy';
      set(key, `lease:${owner}`, leaseMs);
      return 'mine';
    },
    async done(key, keepMs) {
      set(key, DONE, keepMs);
    },
    async release(key, owner) {
      if (get(key) === `lease:${owner}`) entries.delete(key);
    },
    async quiet(key, alertId, ms) {
      const v = get(key);
      if (v !== undefined) return v === alertId;
      if (ms > 0) set(key, alertId, ms);
      return true;
    },
    async close() {
      entries.clear();
    },
  };
}

// One round trip each, atomic: GET then SET would let two alerters both take a lease.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v == 'done' then return 'done' end
if v and v ~= ARGV[1] then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'mine'`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;
const QUIET = `
local set = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if set then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`;

export interface RedisLedgerOptions {
  /** Prefix of every key (default `ipwatch:alerts:`); tests give each run its own. */
  prefix?: string;
}

/**
 * The ledger in Redis, shared by every alerter: keys `<prefix>sent:<key>` and
 * `<prefix>quiet:<key>`, each with its expiry (nothing is kept for good).
 */
export function createRedisLedger(redis: Redis, options: RedisLedgerOptions = {}): AlertLedger {
  const prefix = options.prefix ?? 'ipwatch:alerts:';
  return {
    async claim(key, owner, leaseMs) {
      return (await redis.eval(CLAIM, 1, `${prefix}sent:${key}`, `lease:${owner}`, String(leaseMs))) as ClaimResult;
    },
    async done(key, keepMs) {
      await redis.set(`${prefix}sent:${key}`, DONE, 'PX', keepMs);
    },
    async release(key, owner) {
      await redis.eval(RELEASE, 1, `${prefix}sent:${key}`, `lease:${owner}`);
    },
    async quiet(key, alertId, ms) {
      if (ms <= 0) return true;
      return (await redis.eval(QUIET, 1, `${prefix}quiet:${key}`, alertId, String(ms))) === 1;
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
