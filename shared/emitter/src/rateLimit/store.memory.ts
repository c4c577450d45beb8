/**
 * The sliding-window log in this process: the embedded default, and the fallback while
 * Redis is down (limits then hold per process, not across instances). Keys are
 * attacker-chosen (an IPv6 prefix or a username each), so the store is bounded in keys and
 * in counted entries, evicting the least recently used keys beyond either bound.
 */
import { EmitterOptionError } from '../errors.ts';
import { wholeNumber } from '../optionChecks.ts';
import type { HitResult, RateLimitCheck, RateLimitCheckResult, RateLimitStore } from './store.ts';

export interface MemoryRateLimitStoreOptions {
  /** Keys held at most. Default 100,000. */
  maxKeys?: number;
  /** Counted requests held at most, over all keys (8 bytes each plus overhead). Default 1,000,000. */
  maxEntries?: number;
  /** Clock in ms (injectable for tests). Default Date.now. */
  now?: () => number;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  readonly kind: 'memory';
  /** Keys held now. */
  size(): number;
  /** Keys evicted to stay within bounds since start. */
  evictions(): number;
}

/** One key's log: admitted request times in order, a queue over an array (head moves forward, compacted when half is dead). */
class KeyLog {
  times: number[] = [];
  head = 0;

  /** Drops entries at or before `cutoff`; returns how many it dropped. */
  trim(cutoff: number): number {
    const start = this.head;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.head++;
    const dropped = this.head - start;
    if (this.head === this.times.length) {
      this.times.length = 0;
      this.head = 0;
    } else if (this.head > 32 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return dropped;
  }

  get count(): number {
    return this.times.length - this.head;
  }

  /** Time of the i-th oldest counted entry (0-based). */
  at(i: number): number {
    return this.times[this.head + i]!;
  }
}

/**
 * @example
 * const store = createMemoryRateLimitStore({ maxKeys: 50_000 });
 * const r = await store.hit([{ key: 'anonymous:203.0.113.7', limit: 5, windowMs: 60_000 }]);
 * // { allowed: true, results: [{ remaining: 4, resetMs: 60000, retryAfterMs: 0 }] }
 */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): MemoryRateLimitStore {
  const maxKeys = wholeNumber('maxKeys', options.maxKeys ?? 100_000, 1, 100_000_000);
  const maxEntries = wholeNumber('maxEntries', options.maxEntries ?? 1_000_000, 1, 100_000_000);
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new EmitterOptionError('now must be a function returning ms, like Date.now');
  // Map order is recency order: a used key is moved to the end, eviction takes from the front.
  const logs = new Map<string, KeyLog>();
  let entries = 0;
  let evicted = 0;

  function evictOne(keep: ReadonlySet<KeyLog>): boolean {
    for (const [key, log] of logs) {
      if (keep.has(log)) continue;
      logs.delete(key);
      entries -= log.count;
      evicted++;
      return true;
    }
    return false;
  }

  function hitSync(checks: readonly RateLimitCheck[]): HitResult {
    const t = now();
    const n = checks.length;
    const used: KeyLog[] = new Array(n);
    let allowed = true;
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      let log = logs.get(c.key);
      if (log === undefined) {
        // Stored only if the request is admitted: refused requests (a flood of fresh usernames,
        // say) must not create keys and so push other clients' live history out of the LRU.
        log = new KeyLog();
      } else {
        logs.delete(c.key);
        logs.set(c.key, log);
      }
      entries -= log.trim(t - c.windowMs);
      used[i] = log;
      if (log.count >= c.limit) allowed = false;
    }
    const results: RateLimitCheckResult[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      const log = used[i]!;
      if (allowed) {
        if (log.count === 0 && !logs.has(c.key)) logs.set(c.key, log);
        log.times.push(t);
        entries++;
      }
      const count = log.count;
      const resetMs = count > 0 ? log.at(0) + c.windowMs - t : 0;
      // Over the limit: admitted again once enough old entries have left for the count to drop under it.
      const retryAfterMs = !allowed && count >= c.limit ? log.at(count - c.limit) + c.windowMs - t : 0;
      results[i] = { remaining: Math.max(0, c.limit - count), resetMs, retryAfterMs };
    }
    if (logs.size > maxKeys || entries > maxEntries) {
      const keep = new Set(used);
      while ((logs.size > maxKeys || entries > maxEntries) && evictOne(keep));
    }
    return { allowed, results };
  }

  return {
    kind: 'memory',
    hit: (checks) => {
      try {
        return Promise.resolve(hitSync(checks));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    available: () => true,
    size: () => logs.size,
    evictions: () => evicted,
    close: () => {
      logs.clear();
      entries = 0;
      return Promise.resolve();
    },
  };
}
