/**
 * The rate limiter's public types: its options and rules as an app writes them, who made a
 * request, the decision a check returns, and the limiter's own counters.
 *
 * @example
 * const rules: RateLimitRulesOptions = { anonymous: '5/m', routes: [{ name: 'search', path: '/api/search', rate: '30/m' }] };
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from '@ipwatch/core/redis';
import type { CheckResult } from '@ipwatch/core/observability/health';
import type { RateLimitEventAggregator, RateLimitEventAggregatorStats } from './rateLimitEvents.ts';
import type { FallbackAnswer, RateLimitStore } from './store.ts';
import type { FallbackMode, FallbackState } from './store.fallback.ts';
import type { MemoryRateLimitStoreStats } from './store.memory.ts';
import type { LoginRuleSettings } from './rules.ts';

/** Who made the request, as the middleware resolved it. */
export interface RateLimitWho {
  /** The canonical client IP (see canonicalIp / createClientIpResolver). */
  ip: string;
  userId: string | null;
  authenticated: boolean;
  /** On the allowlist: only the limits that apply whoever asks are counted (the per-username login limit, unless `rules.login.allowlisted` is 'exempt'). */
  allowlisted?: boolean;
}

/**
 * Which limits a check counts: 'whole' (default) every limit that applies; with limits mounted
 * after the body parser, 'arrival' those counted when the request arrives (the per-IP login
 * limit, so a login the body parser refuses still counts) and 'mounted' all the others.
 */
export type RateLimitStage = 'whole' | 'arrival' | 'mounted';

export interface LoginRuleOptions {
  /** Default '3/5m'. */
  rate?: string;
  /** Default ['/login']. Matched case-insensitively, with or without a trailing slash (as Express routes them). */
  paths?: string[];
  /** Default ['POST']. */
  methods?: string[];
  /**
   * The username being tried, to count attempts per username across IPs. Default: a string
   * `username` (else `email`) field of `req.body`, which needs the limiter to run after your
   * body parser. Return null/undefined when there is none (then only the IP counts).
   * Usernames are compared trimmed and lower-cased. A list (a repeated form field) counts
   * under each of its first 4 names; anything else that is not a string (an object, or a list
   * with more or other items) counts under one shared key, 'login-user:(malformed username)'.
   */
  username?: (req: IncomingMessage) => string | readonly string[] | undefined | null;
  /**
   * Clients on the allowlist: 'per-username' (default) skip the per-IP login limit but are
   * counted per username like anyone (the limit protects the account, whoever asks);
   * 'exempt' skip the login limit entirely.
   */
  allowlisted?: 'per-username' | 'exempt';
}

export type RouteKeyedBy = 'ip' | 'user' | 'ip+user';

export interface RouteRuleOptions {
  /** Names the rule in headers, keys and events: letters, digits, '_', '.', '-'. */
  name: string;
  /** An exact path ('/api/search') or a prefix ending in '*' ('/api/*'). Case-insensitive, trailing slash ignored. */
  path: string;
  /** Default: every method. 'GET' covers 'HEAD' too (Express answers HEAD with GET routes). */
  methods?: string[];
  rate: string;
  /** Default 'ip'. 'user' counts an anonymous request by its IP; 'ip+user' counts both (the IP only when anonymous). */
  by?: RouteKeyedBy;
}

export interface RateLimitRulesOptions {
  /** Default '5/m'; false switches it off. */
  anonymous?: string | false;
  /** Default '10/m'; false switches it off. */
  authenticated?: string | false;
  /** Default { rate: '3/5m', paths: ['/login'], methods: ['POST'] }; false switches it off. */
  login?: false | LoginRuleOptions;
  routes?: RouteRuleOptions[];
}

/** A refusal, as handed to `onLimited`. */
export interface RateLimitedEvent {
  rule: string;
  limitKey: string;
  limit: number;
  windowMs: number;
  retryAfterS: number;
  ip: string;
  /** The request's URL path and query, raw (sanitise before logging it). */
  path: string;
  userId: string | null;
  /** Set when the store was down and the fallback policy refused. */
  fallback?: FallbackAnswer;
}

export interface RateLimiterOptions {
  /**
   * Where counts live: a Redis URL ('redis://127.0.0.1:6379', shared by all instances), an
   * ioredis client made with createRedisClient, or any RateLimitStore. Default: in this
   * process (the embedded mode: limits hold per process).
   */
  store?: RateLimitStore | Redis | string;
  rules?: RateLimitRulesOptions;
  /** IPv6 clients are counted per prefix of this length. Default 64. */
  ipv6Prefix?: number;
  /** Status of a refused request: 429 (default) or 403. */
  statusCode?: 429 | 403;
  /** RateLimit and RateLimit-Policy headers on admitted responses too. Default true (refusals always carry them). */
  headers?: boolean;
  /** Policy while the store is down: 'memory' (default: this process's limiter), 'allow' (fail open), 'deny' (fail closed). */
  fallback?: FallbackMode;
  /** While in fallback, how often one request tries the store again, ms. Default 1000. */
  retryIntervalMs?: number;
  /** Deadline of one Redis call when `store` is a URL, ms. Default 250. */
  commandTimeoutMs?: number;
  /** Prefix of every store key. Default 'ipwatch:rl:'. */
  keyPrefix?: string;
  /** The aggregator refusals go to, as RateLimitEvents (see createRateLimitEventAggregator). */
  events?: RateLimitEventAggregator;
  /** Called on each refusal; errors it throws are caught and counted. */
  onLimited?: (event: RateLimitedEvent) => void;
  /** Called when the store in use changes (Redis down, Redis back). */
  onStoreStateChange?: (state: FallbackState) => void;
}

/** Response headers as [name, value] pairs, in order (cheaper to walk than an object's keys). */
export type RateLimitHeaders = ReadonlyArray<readonly [string, string]>;

export interface RateLimitAllowed {
  limited: false;
  /** Headers to set on the response (empty when `headers: false` or no rule applied). */
  headers: RateLimitHeaders;
}

export interface RateLimitLimited {
  limited: true;
  /** The rule that refused (the one asking for the longest wait), e.g. 'anonymous', 'login-user'. */
  rule: string;
  /** What it counted: an IP, an IPv6 prefix, 'user:<id>', 'login-user:<username>'. */
  limitKey: string;
  limit: number;
  windowMs: number;
  statusCode: number;
  /** Seconds until a request would be admitted, rounded up (the Retry-After header). */
  retryAfterS: number;
  headers: RateLimitHeaders;
  /** Set when the store was down and the fallback policy answered. */
  fallback?: FallbackAnswer;
}

export type RateLimitDecision = RateLimitAllowed | RateLimitLimited;

export interface RateLimiterStats {
  /** Checks made, each allowed or limited (with limits mounted, a login is checked twice: on arrival, then where mounted). */
  checks: number;
  allowed: number;
  limited: number;
  /** Refusals per policy name. */
  limitedByRule: Record<string, number>;
  /** Times the login `username` hook threw or returned something other than a string. */
  usernameHookErrors: number;
  /** Times `onLimited` threw. */
  onLimitedErrors: number;
  /** Checks that failed for another reason than the store (a malformed `who`, a bug): those requests were admitted. */
  checkErrors: number;
  /** Which store answers, and its error and fallback counters. */
  store: FallbackState & { kind: string };
  /** The in-process store's figures (the store in embedded mode, else the fallback's while Redis is down); null when there is none. */
  memoryStore: MemoryRateLimitStoreStats | null;
  events: RateLimitEventAggregatorStats | null;
}

export interface RateLimiter {
  /** True when a rule reads the request (the login username): the limiter must then run after the body parser. */
  readonly readsRequestBody: boolean;
  /** True when some limit applies to allowlisted clients too (the per-username login limit, by default). */
  readonly countsAllowlisted: boolean;
  /**
   * The login rule's paths, methods and username hook (defaults applied); null when the rule
   * is off. The tracker's `login: {}` (login reporting) takes what a login is from here.
   */
  readonly loginRule?: LoginRuleSettings | null;
  /** True when stage 'arrival' has a limit to count for this request (a login, by method and path). */
  countsOnArrival(req: IncomingMessage): boolean;
  /** Counts the request under every rule that applies (in `stage`). Never rejects: a store outage is answered by the fallback policy. */
  check(req: IncomingMessage, who: RateLimitWho, stage?: RateLimitStage): Promise<RateLimitDecision>;
  /**
   * For a refusal: writes the status, the headers and `{"error":"rate limited","rule":…,"retryAfter":…}`
   * and returns true. For an admitted request: sets its headers and returns false. RateLimit
   * and RateLimit-Policy already set by an earlier stage's decision are added to.
   */
  respond(res: ServerResponse, decision: RateLimitDecision): boolean;
  stats(): RateLimiterStats;
  /** 'ok' while the store answers; 'degraded' while the fallback does. */
  health(): CheckResult;
  /** Flushes the events and closes what the limiter opened (a Redis connection made from a URL). */
  close(): Promise<void>;
}
