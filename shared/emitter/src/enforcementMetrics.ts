/**
 * Prometheus figures of enforcement inside an app: what the block mirror holds and whether
 * it is stale (serving its last lists because the store is unreachable), whether the rate
 * limiter is on its fallback, and how many requests ipwatch answered itself. Read from the
 * parts' own counters at each scrape, so nothing is added to the request path.
 *
 * @example
 * const metrics = createMetrics('shop');
 * registerEnforcementMetrics(metrics, { tracker, blockMirror, rateLimiter });
 * // serve metrics.text() on /metrics
 */
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { BlockMirror } from './blockMirror/blockMirror.ts';
import type { RateLimiter } from './rateLimit/rateLimiter.ts';
import type { EnforcerStats } from './enforcement.ts';

export interface EnforcementParts {
  /** The ipwatch middleware (its stats() counts blocked, limited and allowlisted requests). */
  tracker?: { stats(): EnforcerStats };
  blockMirror?: BlockMirror;
  rateLimiter?: RateLimiter;
}

export function registerEnforcementMetrics(metrics: IpwatchMetrics, parts: EnforcementParts): void {
  const { tracker, blockMirror, rateLimiter } = parts;
  if (tracker) {
    metrics.counter<'by'>({
      name: 'ipwatch_enforced_requests_total',
      help: 'Requests answered by ipwatch itself since start (blocked, rate_limited), or let through by the allowlist (allowlisted). Unit: requests.',
      labelNames: ['by'],
      collect: (g) => {
        const s = tracker.stats();
        g.set({ by: 'blocked' }, s.blocked);
        g.set({ by: 'rate_limited' }, s.rateLimited);
        g.set({ by: 'allowlisted' }, s.allowlisted);
        g.set({ by: 'enforcement_error' }, s.enforcementErrors);
      },
    });
  }
  if (blockMirror) {
    metrics.gauge<'list'>({
      name: 'ipwatch_block_mirror_entries',
      help: 'Entries the block mirror holds, per list (blocks, allow). Unit: entries.',
      labelNames: ['list'],
      collect: (g) => {
        const s = blockMirror.state();
        g.set({ list: 'blocks' }, s.blocks);
        g.set({ list: 'allow' }, s.allows);
      },
    });
    metrics.gauge({
      name: 'ipwatch_block_mirror_stale',
      help: '1 while the block mirror serves its last known lists because the store (Redis) is unreachable or lost them; 0 in sync. Unit: boolean.',
      collect: (g) => g.set(blockMirror.state().stale ? 1 : 0),
    });
    metrics.gauge({
      name: 'ipwatch_block_mirror_last_sync_age_seconds',
      help: 'Seconds since the block mirror last loaded the lists whole. Unit: seconds.',
      collect: (g) => {
        const at = blockMirror.state().lastSyncAt;
        g.set(at > 0 ? (Date.now() - at) / 1000 : -1);
      },
    });
  }
  if (rateLimiter) {
    metrics.gauge({
      name: 'ipwatch_ratelimit_fallback',
      help: '1 while the rate limiter answers from its fallback policy because its store (Redis) is down. Unit: boolean.',
      collect: (g) => g.set(rateLimiter.stats().store.using === 'fallback' ? 1 : 0),
    });
    metrics.counter<'kind'>({
      name: 'ipwatch_ratelimit_checks_total',
      help: 'Rate-limit checks since start, by outcome (allowed, limited) and those the fallback answered (fallback), and store errors (store_error). Unit: checks.',
      labelNames: ['kind'],
      collect: (g) => {
        const s = rateLimiter.stats();
        g.set({ kind: 'allowed' }, s.allowed);
        g.set({ kind: 'limited' }, s.limited);
        g.set({ kind: 'fallback' }, s.store.fallbackChecks);
        g.set({ kind: 'store_error' }, s.store.storeErrors);
      },
    });
    // The in-process store (embedded, or the fallback): under a flood of new keys it keeps guarded keys and refuses newcomers.
    metrics.counter({
      name: 'ipwatch_ratelimit_store_full_refusals_total',
      help: 'Requests the in-process rate-limit store refused because it was full of keys it never evicts (at their limit, or refused within their window): a flood of new addresses or usernames. Unit: requests.',
      collect: (g) => g.set(rateLimiter.stats().memoryStore?.refusedWhenFull ?? 0),
    });
    metrics.counter({
      name: 'ipwatch_ratelimit_store_evictions_total',
      help: 'Keys the in-process rate-limit store evicted (least recently used, never a guarded one) to stay within its bound. Unit: keys.',
      collect: (g) => g.set(rateLimiter.stats().memoryStore?.evictions ?? 0),
    });
    metrics.gauge<'state'>({
      name: 'ipwatch_ratelimit_store_keys',
      help: 'Keys the in-process rate-limit store holds, by state: guarded (at their limit or refused within their window, never evicted) or evictable. Unit: keys.',
      labelNames: ['state'],
      collect: (g) => {
        const m = rateLimiter.stats().memoryStore;
        g.set({ state: 'guarded' }, m?.guardedKeys ?? 0);
        g.set({ state: 'evictable' }, m === null ? 0 : m.keys - m.guardedKeys);
      },
    });
  }
}
