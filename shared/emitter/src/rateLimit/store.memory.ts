/**
 * The bucketed sliding window (buckets.ts) in this process: the embedded default, and the
 * fallback while Redis is down (limits then hold per process, not across instances), with
 * the same counting as the Redis script, so both admit and refuse alike. A key holds N + 1
 * counts whatever its limit. Keys are attacker-chosen (an IPv6 prefix or a username each),
 * so the store is bounded in keys, evicting the least recently used beyond the bound.
 *
 * A flood of fresh keys must not buy an attacker a fresh count: a key at its limit, or that
 * refused a request, is guarded for its window and never evicted. Guarded keys leave the
 * LRU for a queue per window length (ordered by when their guard ends), so finding a key to
 * evict stays O(1) whatever the store holds. When every key is guarded, a request that needs
 * room is refused (the store fails towards the defender), counted, and warned about once.
 */
import { EmitterOptionError } from '../errors.ts';
import { wholeNumber } from '../optionChecks.ts';
import { BucketCounts, bucketOf, bucketsOption, msUntilLeaves } from './buckets.ts';
import type { HitResult, RateLimitCheck, RateLimitCheckResult, RateLimitStore } from './store.ts';

export interface MemoryRateLimitStoreOptions {
  /** Keys held at most. Default 100,000. */
  maxKeys?: number;
  /**
   * @deprecated No longer used: a key holds N + 1 counts whatever its limit, so maxKeys bounds
   * the memory. Still checked (a whole number from 1), so old code keeps working.
   */
  maxEntries?: number;
  /** Buckets a window is cut into (buckets.ts): a count leaves up to W/N after its window. Default 10, as in the Redis store. */
  buckets?: number;
  /** Clock in ms (injectable for tests). Default Date.now. */
  now?: () => number;
}

export interface MemoryRateLimitStoreStats {
  /** Keys held now. */
  keys: number;
  /** Keys held now that are guarded (at their limit, or refused a request, within their window). */
  guardedKeys: number;
  /** Keys evicted to stay within bounds since start (never a guarded one). */
  evictions: number;
  /** Requests refused since start because they needed room and every key held was guarded. */
  refusedWhenFull: number;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  readonly kind: 'memory';
  /** Keys held now. */
  size(): number;
  /** Keys evicted to stay within bounds since start. */
  evictions(): number;
  stats(): MemoryRateLimitStoreStats;
}

/** process.emitWarning code of "the store is full of guarded keys". */
export const STORE_FULL_WARNING = 'IPWATCH_RATE_LIMIT_STORE_FULL';
/** A store that stays full warns again at most this often. */
const WARN_INTERVAL_MS = 10 * 60_000;

/** One key's bucket counts (buckets.ts), and where it is in the store's bookkeeping. */
class KeyCounts extends BucketCounts {
  /** The window the counts are bucketed for: a key checked with another window length starts afresh. */
  windowMs = 0;
  /** Guarded from eviction until then (ms): when the counts of the window in which it hit its limit or refused have left. */
  guardedUntil = 0;
  /** Window length of the guard queue holding it, or -1 while it is in the LRU. */
  guardWindow = -1;
}

/**
 * @example
 * const store = createMemoryRateLimitStore({ maxKeys: 50_000 });
 * const r = await store.hit([{ key: 'anonymous:203.0.113.7', limit: 5, windowMs: 60_000 }]);
 * // { allowed: true, results: [{ remaining: 4, resetMs: 60000, retryAfterMs: 0 }] }
 */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): MemoryRateLimitStore {
  const maxKeys = wholeNumber('maxKeys', options.maxKeys ?? 100_000, 1, 100_000_000);
  wholeNumber('maxEntries', options.maxEntries ?? 1_000_000, 1, 100_000_000);
  const buckets = bucketsOption(options.buckets);
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new EmitterOptionError('now must be a function returning ms, like Date.now');
  // Unguarded keys, in recency order: a used key is moved to the end, eviction takes from the front.
  const open = new Map<string, KeyCounts>();
  // Guarded keys, one queue per window length: a guard ends at (when it was set + window), so each queue is in order of its end.
  const guarded = new Map<number, Map<string, KeyCounts>>();
  let guardedKeys = 0;
  let evicted = 0;
  let refusedWhenFull = 0;
  let lastWarnAt = Number.NEGATIVE_INFINITY;

  function find(key: string): KeyCounts | undefined {
    const log = open.get(key);
    if (log !== undefined || guardedKeys === 0) return log;
    for (const queue of guarded.values()) {
      const g = queue.get(key);
      if (g !== undefined) return g;
    }
    return undefined;
  }

  function unlink(key: string, log: KeyCounts): void {
    if (log.guardWindow === -1) {
      open.delete(key);
      return;
    }
    guarded.get(log.guardWindow)?.delete(key);
    guardedKeys--;
    log.guardWindow = -1;
  }

  /** At its limit or refusing: out of the LRU until `until`. */
  function guard(key: string, log: KeyCounts, until: number, windowMs: number): void {
    if (log.guardWindow !== -1 && until < log.guardedUntil) return; // a longer guard from another window already holds it
    unlink(key, log);
    let queue = guarded.get(windowMs);
    if (queue === undefined) guarded.set(windowMs, (queue = new Map()));
    queue.set(key, log);
    log.guardedUntil = until;
    log.guardWindow = windowMs;
    guardedKeys++;
  }

  /** Used and under its limit: to the end of the LRU (a guard that has ended is lifted here). */
  function touch(key: string, log: KeyCounts, t: number): void {
    if (log.guardWindow !== -1 && log.guardedUntil > t) return;
    unlink(key, log);
    open.set(key, log);
  }

  // One iterator kept across evictions: a fresh one would step over every entry deleted from the front since the Map last compacted.
  let cursor: MapIterator<[string, KeyCounts]> | null = null;

  /** The least recently used unguarded key not in `keep`, removed; null when there is none. */
  function evictOpen(keep: ReadonlySet<KeyCounts>): KeyCounts | null {
    // A used key is re-inserted at the end, so the cursor meets it again in its new place; a second pass starts over once.
    for (let pass = 0; pass < 2; pass++) {
      cursor ??= open.entries();
      for (let r = cursor.next(); r.done !== true; r = cursor.next()) {
        const [key, log] = r.value;
        if (keep.has(log)) continue; // at most checks.length of these
        open.delete(key);
        return log;
      }
      cursor = null;
    }
    return null;
  }

  /** Frees one key not in `keep`: the least recently used unguarded one, else one whose guard has ended. */
  function evictOne(keep: ReadonlySet<KeyCounts>, t: number): boolean {
    const lru = evictOpen(keep);
    if (lru !== null) return dropped(lru);
    for (const queue of guarded.values()) {
      for (const [key, log] of queue) {
        if (log.guardedUntil > t) break; // the queue is in order of guard end: none further has ended
        if (keep.has(log)) continue;
        queue.delete(key);
        guardedKeys--;
        return dropped(log);
      }
    }
    return false;
  }

  function dropped(log: KeyCounts): true {
    evicted++;
    return true;
  }

  /** When the first guard ends (ms from t), capped at the window: when to come back to a full store. */
  function fullRetryAfter(t: number, windowMs: number): number {
    let first = t + windowMs;
    for (const queue of guarded.values()) {
      for (const log of queue.values()) {
        if (log.guardedUntil < first) first = log.guardedUntil;
        break; // the front of each queue ends first
      }
    }
    return Math.max(1, first - t);
  }

  function warnFull(t: number): void {
    if (t - lastWarnAt < WARN_INTERVAL_MS) return;
    lastWarnAt = t;
    process.emitWarning(
      `ipwatch: the in-process rate-limit store is full (${maxKeys} keys) of keys at their limit or refused within their window, which it never evicts, so requests that need room are refused until those windows end (counted in the limiter's stats, memoryStore.refusedWhenFull). A flood of new addresses or usernames does this; raise maxKeys (createMemoryRateLimitStore({ maxKeys })) if it is real traffic, or share a Redis store (store: 'redis://…').`,
      { code: STORE_FULL_WARNING },
    );
  }

  function hitSync(checks: readonly RateLimitCheck[]): HitResult {
    const t = now();
    const n = checks.length;
    const used: KeyCounts[] = new Array(n);
    const cur: number[] = new Array(n);
    const totals: number[] = new Array(n);
    const isNew: boolean[] = new Array(n);
    let newKeys = 0;
    let allowed = true;
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      let counts = find(c.key);
      isNew[i] = counts === undefined;
      if (counts === undefined) {
        // Stored only if the request is admitted: refused requests (a flood of fresh usernames,
        // say) must not create keys and so push other clients' live history out of the LRU.
        counts = new KeyCounts(buckets);
        newKeys++;
      }
      if (counts.windowMs !== c.windowMs) {
        // New, or counted for another window length until now (a changed rule): start afresh.
        counts.counts.fill(0);
        counts.windowMs = c.windowMs;
      }
      cur[i] = bucketOf(t, c.windowMs, buckets);
      counts.advance(cur[i]!, buckets);
      used[i] = counts;
      totals[i] = counts.total();
      if (totals[i]! >= c.limit) allowed = false;
    }
    let full = false;
    if (allowed && open.size + guardedKeys + newKeys > maxKeys) {
      const keep = new Set(used);
      while (open.size + guardedKeys + newKeys > maxKeys) {
        if (!evictOne(keep, t)) {
          allowed = false;
          full = true;
          break;
        }
      }
    }
    const results: RateLimitCheckResult[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      const counts = used[i]!;
      let total = totals[i]!;
      if (allowed) {
        if (isNew[i] && find(c.key) === undefined) open.set(c.key, counts);
        counts.add();
        total++;
      }
      // At its limit (or refused): kept until a count made now would have left the window.
      if (total >= c.limit) guard(c.key, counts, t + msUntilLeaves(Math.max(cur[i]!, counts.newest), t, c.windowMs, buckets), c.windowMs);
      else if (!isNew[i] || allowed) touch(c.key, counts, t);
      const oldest = total > 0 ? counts.oldest() : -1;
      const resetMs = oldest === -1 ? 0 : msUntilLeaves(oldest, t, c.windowMs, buckets);
      if (full) {
        results[i] = { remaining: 0, resetMs, retryAfterMs: fullRetryAfter(t, c.windowMs) };
        continue;
      }
      // Over the limit: admitted again once enough of the oldest buckets have left for the sum to drop under it.
      const retryAfterMs = !allowed && total >= c.limit ? msUntilLeaves(counts.freesAt(total, c.limit), t, c.windowMs, buckets) : 0;
      results[i] = { remaining: Math.max(0, c.limit - total), resetMs, retryAfterMs };
    }
    if (full) {
      refusedWhenFull++;
      warnFull(t);
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
    size: () => open.size + guardedKeys,
    evictions: () => evicted,
    stats: () => ({ keys: open.size + guardedKeys, guardedKeys, evictions: evicted, refusedWhenFull }),
    close: () => {
      cursor = null;
      open.clear();
      guarded.clear();
      guardedKeys = 0;
      return Promise.resolve();
    },
  };
}
