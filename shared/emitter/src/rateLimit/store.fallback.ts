/**
 * What happens while the shared store (Redis) is down, decided up front and visible:
 *
 * - 'memory' (default): the same bucketed sliding window in this process. Limits keep holding,
 *   per process instead of across instances (N instances admit up to N times the limit).
 * - 'allow': fail open, every request is admitted (availability over protection).
 * - 'deny': fail closed, every request is refused until the store is back (protection over
 *   availability: only for routes where a burst is worse than an outage).
 *
 * A store error (refused connection, timeout, odd reply) switches to the fallback at once,
 * for that request too: a check never takes longer than the store's own deadline. While in
 * fallback, one request per `retryIntervalMs` probes the store again (none while it reports
 * itself disconnected), and the first answer that comes back switches back to it.
 */
import { EmitterOptionError } from '../errors.ts';
import { oneOf, wholeNumber } from '../optionChecks.ts';
import { createMemoryRateLimitStore } from './store.memory.ts';
import type { FallbackAnswer, HitResult, RateLimitCheck, RateLimitCheckResult, RateLimitStore } from './store.ts';

export type FallbackMode = FallbackAnswer;
export const FALLBACK_MODES: readonly FallbackMode[] = ['memory', 'allow', 'deny'];
const FALLBACK_MEANINGS: Record<FallbackMode, string> = { memory: 'a limiter in this process, the default', allow: 'fail open', deny: 'fail closed' };

/** Checks the `fallback` option (here and in createRateLimiter): one of FALLBACK_MODES. */
export function fallbackModeOption(value: unknown): FallbackMode {
  return oneOf('fallback', value, FALLBACK_MODES, FALLBACK_MEANINGS);
}

export interface FallbackRateLimitStoreOptions {
  /** The store to use while it answers (Redis). */
  primary: RateLimitStore;
  /** Policy while it does not. Default 'memory'. */
  mode?: FallbackMode;
  /** The store for mode 'memory'. Default: createMemoryRateLimitStore(). */
  fallback?: RateLimitStore;
  /** While in fallback, how often one request tries the primary again, ms. Default 1000. */
  retryIntervalMs?: number;
  /** Called when the store in use changes (for a log line); errors it throws are ignored. */
  onStateChange?: (state: FallbackState) => void;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

export interface FallbackState {
  /** Which store answers now. */
  using: 'primary' | 'fallback';
  mode: FallbackMode;
  /** When the fallback took over (ms since epoch), or null while the primary answers. */
  since: number | null;
  /** Primary store calls that failed (errors and timeouts), since start. */
  storeErrors: number;
  /** Checks the fallback policy answered, since start. */
  fallbackChecks: number;
  /** Message of the last store error, or null. */
  lastError: string | null;
}

export interface FallbackRateLimitStore extends RateLimitStore {
  readonly kind: 'fallback';
  readonly primary: RateLimitStore;
  /** The store that answers in mode 'memory' while the primary cannot; null in the other modes. */
  readonly fallback: RateLimitStore | null;
  state(): FallbackState;
}

/**
 * @example
 * const store = createFallbackRateLimitStore({ primary: createRedisRateLimitStore({ redis: url }), mode: 'memory' });
 * await store.hit([{ key: 'k', limit: 5, windowMs: 60_000 }]); // from Redis, or from memory while Redis is down
 * store.state(); // { using: 'primary', mode: 'memory', since: null, storeErrors: 0, fallbackChecks: 0, lastError: null }
 */
export function createFallbackRateLimitStore(options: FallbackRateLimitStoreOptions): FallbackRateLimitStore {
  const { primary, onStateChange } = options ?? ({} as FallbackRateLimitStoreOptions);
  if (!primary || typeof primary.hit !== 'function') throw new EmitterOptionError('primary must be a RateLimitStore (an object with hit(checks))');
  const mode = fallbackModeOption(options.mode ?? 'memory');
  const retryIntervalMs = wholeNumber('retryIntervalMs', options.retryIntervalMs ?? 1000, 1, 600_000, 'ms');
  const fallback = mode === 'memory' ? (options.fallback ?? createMemoryRateLimitStore()) : null;
  const now = options.now ?? Date.now;

  let usingFallback = false;
  let since: number | null = null;
  let nextProbeAt = 0;
  let probing = false;
  let storeErrors = 0;
  let fallbackChecks = 0;
  let lastError: string | null = null;

  const state = (): FallbackState => ({ using: usingFallback ? 'fallback' : 'primary', mode, since, storeErrors, fallbackChecks, lastError });

  function changed(): void {
    if (!onStateChange) return;
    try {
      onStateChange(state());
    } catch {
      // a broken hook must not break a check
    }
  }

  function answer(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    fallbackChecks++;
    if (fallback !== null) {
      return fallback.hit(checks).then((r) => {
        r.fallback = 'memory';
        return r;
      });
    }
    const allow = mode === 'allow';
    const results: RateLimitCheckResult[] = new Array(checks.length);
    for (let i = 0; i < checks.length; i++) {
      // 'deny' says to come back when the store is next tried.
      results[i] = allow ? { remaining: checks[i]!.limit, resetMs: 0, retryAfterMs: 0 } : { remaining: 0, resetMs: retryIntervalMs, retryAfterMs: retryIntervalMs };
    }
    return Promise.resolve({ allowed: allow, results, fallback: mode });
  }

  function failed(err: unknown, checks: readonly RateLimitCheck[]): Promise<HitResult> {
    storeErrors++;
    lastError = err instanceof Error ? err.message : String(err);
    const t = now();
    nextProbeAt = t + retryIntervalMs;
    if (!usingFallback) {
      usingFallback = true;
      since = t;
      changed();
    }
    return answer(checks);
  }

  function callPrimary(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    try {
      return primary.hit(checks);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  function hit(checks: readonly RateLimitCheck[]): Promise<HitResult> {
    if (!usingFallback) return callPrimary(checks).then(undefined, (err: unknown) => failed(err, checks));
    if (probing || now() < nextProbeAt || (primary.available !== undefined && !primary.available())) return answer(checks);
    probing = true;
    return callPrimary(checks).then(
      (r) => {
        probing = false;
        if (usingFallback) {
          usingFallback = false;
          since = null;
          changed();
        }
        return r;
      },
      (err: unknown) => {
        probing = false;
        return failed(err, checks);
      },
    );
  }

  return {
    kind: 'fallback',
    primary,
    fallback,
    hit,
    state,
    available: () => true,
    close: async () => {
      await Promise.all([primary.close?.(), fallback?.close?.()]);
    },
  };
}
