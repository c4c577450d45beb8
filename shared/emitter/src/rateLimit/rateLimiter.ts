/**
 * The rate limiter an app's middleware calls once per request: rules compiled at start
 * (rates parsed, paths and methods into Sets and prefixes, store key prefixes and header
 * items built), then per request one store call with every key the request counts under.
 *
 * Rules, as the old Django app had them (all configurable, each can be switched off):
 * - a class rule for every request: anonymous 5/min keyed by IP (an IPv6 client by its
 *   /64), authenticated 10/min keyed by user id;
 * - login: POST /login at most 3 per 5 min, per IP AND per username, so guessing one
 *   account's password from many IPs is limited too;
 * - route rules of your own: a path (exact, or a prefix ending in '*'), methods, a rate,
 *   keyed by IP, user, or both.
 * A request is admitted only if it is under every limit that applies, and then counted in
 * all of them (one atomic store call); a refused request is counted in none.
 */
import type { CheckResult } from '@ipwatch/core/observability/health';
import { EmitterOptionError } from '../errors.ts';
import { oneOf, optionalFunction, trueOrFalse } from '../optionChecks.ts';
import { validIpv6Prefix } from './limitKey.ts';
import { createRequestCheck } from './requestCheck.ts';
import { compileRules } from './rules.ts';
import type { RateLimitStore } from './store.ts';
import { createFallbackRateLimitStore, fallbackModeOption } from './store.fallback.ts';
import { createMemoryRateLimitStore, type MemoryRateLimitStore } from './store.memory.ts';
import { createRedisRateLimitStore } from './store.redis.ts';
import type { RateLimiter, RateLimiterOptions, RateLimiterStats } from './types.ts';

export type { LoginRuleSettings } from './rules.ts';
export type {
  LoginRuleOptions,
  RateLimitAllowed,
  RateLimitDecision,
  RateLimitedEvent,
  RateLimiter,
  RateLimiterOptions,
  RateLimiterStats,
  RateLimitHeaders,
  RateLimitLimited,
  RateLimitRulesOptions,
  RateLimitStage,
  RateLimitWho,
  RouteKeyedBy,
  RouteRuleOptions,
} from './types.ts';

const KEY_PREFIX_RE = /^[\x21-\x7e]{0,64}$/;

function isStore(value: unknown): value is RateLimitStore {
  return typeof value === 'object' && value !== null && typeof (value as { hit?: unknown }).hit === 'function';
}

function asMemoryStore(store: RateLimitStore | null): MemoryRateLimitStore | null {
  return store?.kind === 'memory' && typeof (store as Partial<MemoryRateLimitStore>).stats === 'function' ? (store as MemoryRateLimitStore) : null;
}

/**
 * @example
 * const limiter = createRateLimiter({
 *   store: 'redis://127.0.0.1:6379',
 *   rules: { anonymous: '5/m', authenticated: '10/m', routes: [{ name: 'search', path: '/api/search', rate: '30/m', by: 'ip+user' }] },
 *   events: createRateLimitEventAggregator({ buffer, app: 'shop' }),
 * });
 * app.use(async (req, res, next) => {
 *   const decision = await limiter.check(req, { ip: clientIp(req), userId: req.user?.id ?? null, authenticated: !!req.user });
 *   if (limiter.respond(res, decision)) return; // 429 with Retry-After
 *   next();
 * });
 */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const rules = options.rules ?? {};
  if (typeof rules !== 'object' || rules === null) throw new EmitterOptionError('rules must be an object such as { anonymous: "5/m", authenticated: "10/m" }');
  const ipv6Prefix = validIpv6Prefix(options.ipv6Prefix ?? 64);
  const statusCode = oneOf('statusCode', options.statusCode ?? 429, [429, 403], { 429: 'Too Many Requests, the default' });
  const sendHeaders = trueOrFalse('headers', options.headers ?? true);
  const keyPrefix = options.keyPrefix ?? 'ipwatch:rl:';
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX_RE.test(keyPrefix)) throw new EmitterOptionError(`keyPrefix must be at most 64 printable ASCII characters without spaces, not ${JSON.stringify(keyPrefix)}`);
  const fallbackMode = fallbackModeOption(options.fallback ?? 'memory');
  const { events } = options;
  if (events !== undefined && (typeof events !== 'object' || events === null || typeof events.record !== 'function')) {
    throw new EmitterOptionError('events must be a RateLimitEventAggregator (see createRateLimitEventAggregator)');
  }
  const onLimited = optionalFunction('onLimited', options.onLimited, '(event) => void');

  const compiled = compileRules(rules, keyPrefix);

  // The store: whatever was given, wrapped in the fallback policy so a check never rejects.
  let owned: RateLimitStore | null = null;
  let primary: RateLimitStore;
  const given = options.store;
  if (given === undefined) {
    primary = owned = createMemoryRateLimitStore();
  } else if (typeof given === 'string') {
    primary = owned = createRedisRateLimitStore({ redis: given, ...(options.commandTimeoutMs !== undefined && { commandTimeoutMs: options.commandTimeoutMs }) });
  } else if (isStore(given)) {
    primary = given;
  } else {
    primary = createRedisRateLimitStore({ redis: given });
  }
  const store = createFallbackRateLimitStore({
    primary,
    mode: fallbackMode,
    ...(options.retryIntervalMs !== undefined && { retryIntervalMs: options.retryIntervalMs }),
    ...(options.onStoreStateChange !== undefined && { onStateChange: options.onStoreStateChange }),
  });
  // Its figures (a full store refuses: see store.memory.ts) show in stats() and the metrics.
  const memoryStore = asMemoryStore(primary) ?? asMemoryStore(store.fallback);
  const requests = createRequestCheck({ rules: compiled, store, ipv6Prefix, statusCode, sendHeaders, events, onLimited });

  function stats(): RateLimiterStats {
    return {
      ...requests.counters(),
      store: { kind: primary.kind, ...store.state() },
      memoryStore: memoryStore?.stats() ?? null,
      events: events?.stats() ?? null,
    };
  }

  function health(): CheckResult {
    const s = store.state();
    if (s.using === 'primary') return { state: 'ok', detail: `${primary.kind} store answering; ${s.storeErrors} store errors since start` };
    const policyText = s.mode === 'memory' ? 'limits hold per process (in-memory fallback)' : s.mode === 'allow' ? 'every request admitted (fail open)' : 'every request refused (fail closed)';
    const since = s.since === null ? '' : ` since ${new Date(s.since).toISOString()}`;
    return { state: 'degraded', detail: `${primary.kind} store unreachable${since} (last error: ${s.lastError ?? 'none'}); ${policyText}; ${s.fallbackChecks} checks answered by the fallback` };
  }

  async function close(): Promise<void> {
    events?.flush();
    await owned?.close?.();
  }

  return {
    readsRequestBody: compiled.usernameOf !== null,
    countsAllowlisted: compiled.countsAllowlisted,
    loginRule: compiled.login,
    countsOnArrival: requests.countsOnArrival,
    check: requests.check,
    respond: requests.respond,
    stats,
    health,
    close,
  };
}
