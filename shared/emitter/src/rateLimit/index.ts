/**
 * Rate limiting in the emitter: sliding-window limits (bucketed, never over) per IP (IPv6 per prefix), per user
 * and per login username, in Redis (shared by every instance, one atomic script call per
 * request, the server's clock) or in process, with an explicit policy while Redis is down,
 * IETF RateLimit headers, and refusals folded into RateLimitEvents.
 *
 * @example
 * import { createRateLimiter } from '@ipwatch/emitter';
 * const limiter = createRateLimiter({ store: 'redis://127.0.0.1:6379', rules: { anonymous: '5/m' } });
 */
export {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStats,
  type RateLimitRulesOptions,
  type LoginRuleOptions,
  type RouteRuleOptions,
  type RouteKeyedBy,
  type RateLimitWho,
  type RateLimitStage,
  type RateLimitDecision,
  type RateLimitAllowed,
  type RateLimitLimited,
  type RateLimitHeaders,
  type RateLimitedEvent,
} from './rateLimiter.ts';
export { parseRate, MAX_RATE_LIMIT, MAX_WINDOW_MS, type Rate } from './rate.ts';
export { ipLimitKey, keyPart, validIpv6Prefix, MAX_KEY_PART_LENGTH } from './limitKey.ts';
export type { RateLimitStore, RateLimitCheck, RateLimitCheckResult, HitResult, FallbackAnswer } from './store.ts';
export { createMemoryRateLimitStore, STORE_FULL_WARNING, type MemoryRateLimitStore, type MemoryRateLimitStoreOptions, type MemoryRateLimitStoreStats } from './store.memory.ts';
export { DEFAULT_BUCKETS, MAX_BUCKETS } from './buckets.ts';
export { createRedisRateLimitStore, SLIDING_WINDOW_SCRIPT, type RedisRateLimitStore, type RedisRateLimitStoreOptions } from './store.redis.ts';
export {
  createFallbackRateLimitStore,
  FALLBACK_MODES,
  type FallbackMode,
  type FallbackState,
  type FallbackRateLimitStore,
  type FallbackRateLimitStoreOptions,
} from './store.fallback.ts';
export {
  createRateLimitEventAggregator,
  type RateLimitEventAggregator,
  type RateLimitEventAggregatorOptions,
  type RateLimitEventAggregatorStats,
  type RateLimitRefusal,
} from './rateLimitEvents.ts';
