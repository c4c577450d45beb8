/**
 * The sliding-window log in this process: the embedded default, and the fallback while
 * Redis is down (limits then hold per process, not across instances). Keys are
 * attacker-chosen (an IPv6 prefix or a username each), so the store is bounded in keys and
 * in counted entries, evicting the least recently used keys beyond either bound.
 *
 * A flood of fresh keys must not buy an attacker a fresh count: a key at its limit, or that
 * refused a request, is guarded for its window and never evicted. Guarded keys leave the
 * LRU for a queue per window length (ordered by when their guard ends), so finding a key to
 * evict stays O(1) whatever the store holds. When every key is guarded, a request that needs
 * room is refused (the store fails towards the defender), counted, and warned about once.
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

/** One key's log: admitted request times in order, a queue over an array (head moves forward, compacted when half is dead). */
class KeyLog {
  times: number[] = [];
  head = 0;
  /** Guarded from eviction until then (ms): the end of the window in which it hit its limit or refused. */
  guardedUntil = 0;
  /** Window length of the guard queue holding it, or -1 while it is in the LRU. */
  guardWindow = -1;

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
  // Unguarded keys, in recency order: a used key is moved to the end, eviction takes from the front.
  const open = new Map<string, KeyLog>();
  // Guarded keys, one queue per window length: a guard ends at (when it was set + window), so each queue is in order of its end.
  const guarded = new Map<number, Map<string, KeyLog>>();
  let guardedKeys = 0;
  let entries = 0;
  let evicted = 0;
  let refusedWhenFull = 0;
  let lastWarnAt = Number.NEGATIVE_INFINITY;

  function find(key: string): KeyLog | undefined {
    const log = open.get(key);
    if (log !== undefined || guardedKeys === 0) return log;
    for (const queue of guarded.values()) {
      const g = queue.get(key);
      if (g !== undefined) return g;
    }
    return undefined;
  }

  function unlink(key: string, log: KeyLog): void {
    if (log.guardWindow === -1) {
      open.delete(key);
      return;
    }
    guarded.get(log.guardWindow)?.delete(key);
    guardedKeys--;
    log.guardWindow = -1;
  }

  /** At its limit or refusing: out of the LRU until `until`. */
  function guard(key: string, log: KeyLog, until: number, windowMs: number): void {
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
  function touch(key: string, log: KeyLog, t: number): void {
    if (log.guardWindow !== -1 && log.guardedUntil > t) return;
    unlink(key, log);
    open.set(key, log);
  }

  // One iterator kept across evictions: a fresh one would step over every entry deleted from the front since the Map last compacted.
  let cursor: MapIterator<[string, KeyLog]> | null = null;

  /** The least recently used unguarded key not in `keep`, removed; null when there is none. */
  function evictOpen(keep: ReadonlySet<KeyLog>): KeyLog | null {
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
  function evictOne(keep: ReadonlySet<KeyLog>, t: number): boolean {
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

  function dropped(log: KeyLog): true {
    entries -= log.count;
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
      `ipwatch: the in-process rate-limit store is full (${maxKeys} keys, ${maxEntries} counted requests at most) of keys at their limit or refused within their window, which it never evicts, so requests that need room are refused until those windows end (counted in the limiter's stats, memoryStore.refusedWhenFull). A flood of new addresses or usernames does this; raise maxKeys (createMemoryRateLimitStore({ maxKeys })) if it is real traffic, or share a Redis store (store: 'redis://…').`,
      { code: STORE_FULL_WARNING },
    );
  }

  function hitSync(checks: readonly RateLimitCheck[]): HitResult {
    const t = now();
    const n = checks.length;
    const used: KeyLog[] = new Array(n);
    const isNew: boolean[] = new Array(n);
    let newKeys = 0;
    let allowed = true;
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      let log = find(c.key);
      isNew[i] = log === undefined;
      if (log === undefined) {
        // Stored only if the request is admitted: refused requests (a flood of fresh usernames,
        // say) must not create keys and so push other clients' live history out of the LRU.
        log = new KeyLog();
        newKeys++;
      } else {
        entries -= log.trim(t - c.windowMs);
      }
      used[i] = log;
      if (log.count >= c.limit) allowed = false;
    }
    let full = false;
    if (allowed && (open.size + guardedKeys + newKeys > maxKeys || entries + n > maxEntries)) {
      const keep = new Set(used);
      while (open.size + guardedKeys + newKeys > maxKeys || entries + n > maxEntries) {
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
      const log = used[i]!;
      if (allowed) {
        if (isNew[i] && find(c.key) === undefined) open.set(c.key, log);
        log.times.push(t);
        entries++;
      }
      const count = log.count;
      if (count >= c.limit) guard(c.key, log, t + c.windowMs, c.windowMs);
      else if (!isNew[i] || allowed) touch(c.key, log, t);
      const resetMs = count > 0 ? log.at(0) + c.windowMs - t : 0;
      if (full) {
        results[i] = { remaining: 0, resetMs, retryAfterMs: fullRetryAfter(t, c.windowMs) };
        continue;
      }
      // Over the limit: admitted again once enough old entries have left for the count to drop under it.
      const retryAfterMs = !allowed && count >= c.limit ? log.at(count - c.limit) + c.windowMs - t : 0;
      results[i] = { remaining: Math.max(0, c.limit - count), resetMs, retryAfterMs };
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
      entries = 0;
      return Promise.resolve();
    },
  };
}
