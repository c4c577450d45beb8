/**
 * The sliding window every store counts with (in Redis: the script in store.redis.ts; in this
 * process: store.memory.ts, with BucketCounts below), in memory that does not grow with the
 * limit.
 *
 * A rule's window W is cut into N buckets of W/N (N = 10 by default), on a grid that starts
 * at time 0: bucket b holds the requests admitted from b*W/N to (b+1)*W/N. A key keeps one
 * count per bucket for the buckets the window can still touch: the one `now` is in and the N
 * before it (N + 1 counts, and the index of the newest). The window (now - W, now] always
 * reaches into the oldest of them, partly expired: it is counted WHOLE. A request is
 * admitted when the sum of the N + 1 counts is under the limit, so no window of W ever
 * holds more than the limit (0% over, no burst at an edge). The price: a count stays until
 * its whole bucket has left, up to W + W/N after the request, so a client pressing steadily
 * above the limit gets as few as N/(N+1) of it (10 in 11 with N = 10) over a long run.
 *
 * Retry-After is the time until enough of the oldest buckets have left for the sum to be
 * under the limit: a bucket b leaves the window at (b + N + 1) * W/N.
 *
 * @example
 * const c = new BucketCounts(10);
 * c.advance(bucketOf(now, 60_000, 10), 10); // drop what left the window
 * if (c.total() < limit) c.add();
 */
import { wholeNumber } from '../optionChecks.ts';

/** Buckets per window, unless a store is told otherwise. */
export const DEFAULT_BUCKETS = 10;
/** Most buckets per window (a key's memory grows with them: 2 bytes per bucket in Redis). */
export const MAX_BUCKETS = 100;

/** Checks a store's `buckets` option. */
export function bucketsOption(value: unknown): number {
  return wholeNumber('buckets', value ?? DEFAULT_BUCKETS, 1, MAX_BUCKETS, undefined, 'the number of parts a window is cut into');
}

/** The bucket time `t` (ms) falls in, for a window of `windowMs` cut into `buckets`. */
export function bucketOf(t: number, windowMs: number, buckets: number): number {
  // t * buckets / windowMs, not t / (windowMs / buckets): whole numbers divided once, so a
  // time exactly on an edge is in the bucket that starts there.
  return Math.floor((t * buckets) / windowMs);
}

/** ms from `t` until bucket `b` has left every window (at (b + N + 1) * W/N); at least 1 for a bucket that is still counted. */
export function msUntilLeaves(b: number, t: number, windowMs: number, buckets: number): number {
  return Math.ceil(((b + buckets + 1) * windowMs - t * buckets) / buckets);
}

/** One key's counts: counts[j] requests admitted in bucket `newest - j`, j = 0..N. */
export class BucketCounts {
  newest = 0;
  readonly counts: number[];

  constructor(buckets: number) {
    this.counts = new Array<number>(buckets + 1).fill(0);
  }

  /**
   * Brings the counts to bucket `cur`: shifts them by the buckets that passed, dropping those
   * that left the window. A clock that went back (cur < newest, by at most N buckets) keeps
   * counting into the newest bucket, which then leaves later than it would have: the safe side.
   */
  advance(cur: number, buckets: number): void {
    const c = this.counts;
    const shift = cur - this.newest;
    if (shift === 0) return;
    if (shift < 0 && -shift <= buckets) return;
    if (shift < 0 || shift > buckets) {
      // Every count left long ago (or the clock jumped back further than a window): start afresh.
      c.fill(0);
    } else {
      for (let j = buckets; j >= shift; j--) c[j] = c[j - shift]!;
      for (let j = 0; j < shift; j++) c[j] = 0;
    }
    this.newest = cur;
  }

  /** Requests counted now (after advance). */
  total(): number {
    let sum = 0;
    for (let j = 0; j < this.counts.length; j++) sum += this.counts[j]!;
    return sum;
  }

  /** Counts one admitted request, in the newest bucket. */
  add(): void {
    this.counts[0]!++;
  }

  /** The oldest bucket still holding a count, or -1 when none does. */
  oldest(): number {
    for (let j = this.counts.length - 1; j >= 0; j--) if (this.counts[j]! > 0) return this.newest - j;
    return -1;
  }

  /** The newest bucket whose leaving brings the count under `limit`: the oldest buckets leave first. Call only when total() >= limit >= 1. */
  freesAt(total: number, limit: number): number {
    let left = total;
    for (let j = this.counts.length - 1; j > 0; j--) {
      left -= this.counts[j]!;
      if (left < limit) return this.newest - j;
    }
    return this.newest;
  }
}
