/**
 * @ipwatch/emitter: the in-app part of ipwatch. Resolves the client IP behind trusted
 * proxies, enforces blocks, the allowlist and rate limits, anonymises the IP if asked, and
 * emits one RequestEvent per request through a bounded buffer, without ever slowing or
 * breaking the app. Adapters for Express, Fastify and node:http over one tracker.
 *
 * @example
 * import { ipwatch } from '@ipwatch/emitter';
 * app.use(ipwatch({ log, app: 'shop', trustedProxies: ['10.0.0.0/8'] }));
 */
export { ipwatch, type IpwatchMiddleware, type ExpressLikeRequest } from './express.ts';
export { withIpwatch, type IpwatchListener } from './node.ts';
export {
  ipwatchFastify,
  type IpwatchFastifyOptions,
  type IpwatchFastifyDecoration,
  type FastifyLikeInstance,
  type FastifyLikeRequest,
  type FastifyLikeReply,
} from './fastify.ts';
export type { IpwatchOptions, IpwatchStats } from './tracker.ts';
export { MAX_LOGIN_USER_LENGTH, type LoginReportOptions } from './login.ts';
// What an app connects with, so that it imports from this one package.
export { createKafkaEventLog, type KafkaEventLogOptions } from '@ipwatch/core/eventLog/kafka';
export { createRedisSharedLists, type RedisSharedListsOptions } from '@ipwatch/core/sharedLists/redis';
export { IpwatchError, ERRORS, type ErrorCode } from '@ipwatch/core/errors';
export { sanitizePath, sanitizeHeaderValue, normaliseMethod } from './sanitize.ts';
export {
  createRequestRecorder,
  type RequestRecorder,
  type RequestRecorderOptions,
  type RequestRecorderStats,
  type RequestUser,
} from './requestEvent.ts';
export {
  createClientIpResolver,
  UNKNOWN_IP,
  MAX_FORWARDED_HEADER_LENGTH,
  MAX_FORWARDED_HOPS,
  type ClientIp,
  type ClientIpOptions,
  type ClientIpResolver,
  type ClientIpSource,
  type ForwardedHeader,
} from './clientIp.ts';
export { createIpAnonymiser, HASHED_IP_PREFIX, MIN_HASH_KEY_BYTES, type IpAnonymiser, type IpAnonymiserOptions } from './anonymise.ts';
export { createEventBuffer, type EventBuffer, type EventBufferOptions, type EventBufferStats, type DropReason } from './eventBuffer.ts';
export { EmitterOptionError, NoEventLogError, PluginRegisteredTwiceError } from './errors.ts';
export type { BlockedResponseOptions, EnforcerStats } from './enforcement.ts';
export { createBlockMirror, type BlockMirror, type BlockMirrorOptions, type BlockMirrorState, type BlockVerdict } from './blockMirror/blockMirror.ts';
export {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitDecision,
  type RateLimitRulesOptions,
  type RateLimiterStats,
  type LoginRuleOptions,
  type LoginRuleSettings,
} from './rateLimit/rateLimiter.ts';
export { createRateLimitEventAggregator, type RateLimitEventAggregator } from './rateLimit/rateLimitEvents.ts';
export { parseRate, type Rate } from './rateLimit/rate.ts';
export { STORE_FULL_WARNING } from './rateLimit/store.memory.ts';
export { registerEnforcementMetrics, type EnforcementParts } from './enforcementMetrics.ts';
export { limitKeyConcerns } from './rateLimit/personalKeys.ts';
