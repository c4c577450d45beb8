/**
 * Where rate-limit counts live. Two answers only: a HitResult ("admitted" or "over the
 * limit", both results) or a rejected promise ("the store is down", an error). The limiter
 * never confuses the two: an error goes to the fallback policy (store.fallback.ts), never
 * to a 429.
 *
 * The algorithm every store implements is a bucketed sliding window (buckets.ts): each key
 * holds a count per tenth of the window (N + 1 counts, whatever the limit); a hit drops the
 * buckets that have left the window, sums the rest (the partly expired oldest counted whole),
 * and admits the request only if the sum is under the limit, then counts it. So at most
 * `limit` requests are admitted in ANY window of `windowMs` (a fixed window admits up to
 * twice that across a boundary); a count stays up to W/N past its window, so a client pressing
 * on gets at least N/(N+1) of the limit. Refused requests are not counted: a client that keeps
 * hammering gets in again as soon as its old counts age out, and its refusals cost no memory.
 */

/** One key a request is counted under. */
export interface RateLimitCheck {
  /** The store key, e.g. "ipwatch:rl:anonymous:203.0.113.7". */
  key: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitCheckResult {
  /** Requests still admitted now under this key (after this one, if it was admitted). */
  remaining: number;
  /** ms until the oldest counted request leaves the window (one more is admitted then); 0 when nothing is counted. */
  resetMs: number;
  /** ms until a request would be admitted under this key; 0 when it would be now. */
  retryAfterMs: number;
}

/** Which policy answered when the store itself could not. */
export type FallbackAnswer = 'memory' | 'allow' | 'deny';

export interface HitResult {
  /** True when every key was under its limit; the request was then recorded under every key. */
  allowed: boolean;
  /** One result per check, in the order of the checks. */
  results: RateLimitCheckResult[];
  /** Set when the primary store was unavailable and the fallback policy answered. */
  fallback?: FallbackAnswer;
}

export interface RateLimitStore {
  readonly kind: string;
  /**
   * Counts one request under every check at once, atomically: admitted only if all keys
   * are under their limits, and then recorded in all of them. Rejects only when the store
   * is unavailable (never for "over the limit").
   */
  hit(checks: readonly RateLimitCheck[]): Promise<HitResult>;
  /** False when the store knows it cannot answer now (e.g. disconnected), so callers can skip it without paying for an error. */
  available?(): boolean;
  close?(): Promise<void>;
}
