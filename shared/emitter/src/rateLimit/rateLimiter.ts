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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from '@ipwatch/core/redis';
import type { CheckResult } from '@ipwatch/core/observability/health';
import { EmitterOptionError } from '../errors.ts';
import { ipLimitKey, keyPart, validIpv6Prefix } from './limitKey.ts';
import { parseRate, type Rate } from './rate.ts';
import type { RateLimitEventAggregator, RateLimitEventAggregatorStats } from './rateLimitEvents.ts';
import type { FallbackAnswer, HitResult, RateLimitCheck, RateLimitStore } from './store.ts';
import { createFallbackRateLimitStore, FALLBACK_MODES, type FallbackMode, type FallbackState } from './store.fallback.ts';
import { createMemoryRateLimitStore } from './store.memory.ts';
import { createRedisRateLimitStore } from './store.redis.ts';

/** Who made the request, as the middleware resolved it. */
export interface RateLimitWho {
  /** The canonical client IP (see canonicalIp / createClientIpResolver). */
  ip: string;
  userId: string | null;
  authenticated: boolean;
}

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
   * Usernames are compared trimmed and lower-cased.
   */
  username?: (req: IncomingMessage) => string | undefined | null;
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
  events: RateLimitEventAggregatorStats | null;
}

export interface RateLimiter {
  /** True when a rule reads the request (the login username): the limiter must then run after the body parser. */
  readonly readsRequestBody: boolean;
  /** Counts the request under every rule that applies. Never rejects: a store outage is answered by the fallback policy. */
  check(req: IncomingMessage, who: RateLimitWho): Promise<RateLimitDecision>;
  /**
   * For a refusal: writes the status, the headers and `{"error":"rate limited","rule":…,"retryAfter":…}`
   * and returns true. For an admitted request: sets its headers and returns false.
   */
  respond(res: ServerResponse, decision: RateLimitDecision): boolean;
  stats(): RateLimiterStats;
  /** 'ok' while the store answers; 'degraded' while the fallback does. */
  health(): CheckResult;
  /** Flushes the events and closes what the limiter opened (a Redis connection made from a URL). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Compiled rules

/** One policy as the headers name it; a two-key rule has two (e.g. 'login' per IP, 'login-user' per username). */
class Policy {
  /** RateLimit-Policy item: "anonymous";q=5;w=60 */
  readonly item: string;
  /** Start of the RateLimit item: "anonymous";r= */
  readonly remainingPrefix: string;
  constructor(
    readonly name: string,
    readonly limit: number,
    readonly windowMs: number,
    /** Start of every store key of this policy: ipwatch:rl:<rule>: */
    readonly keyPrefix: string,
  ) {
    this.item = `"${name}";q=${limit};w=${Math.ceil(windowMs / 1000)}`;
    this.remainingPrefix = `"${name}";r=`;
  }
}

/** One key a request is counted under; what the store reads (key, limit, windowMs) plus what the decision needs. A class: one hidden class for all. */
class Counted implements RateLimitCheck {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  constructor(
    readonly policy: Policy,
    readonly limitKey: string,
  ) {
    this.key = policy.keyPrefix + limitKey;
    this.limit = policy.limit;
    this.windowMs = policy.windowMs;
  }
}

interface PathMatcher {
  exact: Set<string>;
  /** Prefixes (lower-cased); a '/x/*' pattern also matches '/x'. */
  prefixes: Array<{ base: string; dirOnly: boolean }>;
}

interface PathRule {
  kind: 'login' | 'route';
  /** null: every method. */
  methods: Set<string> | null;
  paths: PathMatcher;
  ipPolicy: Policy;
  /** Per-user (routes) or per-username (login) policy, or null. */
  userPolicy: Policy | null;
  by: RouteKeyedBy;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const KEY_PREFIX_RE = /^[\x21-\x7e]{0,64}$/;
const METHOD_RE = /^[A-Za-z]{1,20}$/;
const EMPTY_HEADERS: RateLimitHeaders = Object.freeze([]);
const RESERVED_NAMES = new Set(['anonymous', 'authenticated', 'login', 'login-user']);

function compileMethods(name: string, methods: unknown, fallback: string[] | null): Set<string> | null {
  const list = methods ?? fallback;
  if (list === null) return null;
  if (!Array.isArray(list) || list.length === 0 || list.some((m) => typeof m !== 'string' || !METHOD_RE.test(m))) {
    throw new EmitterOptionError(`${name}.methods must be a non-empty list of HTTP methods such as ['POST'], not ${JSON.stringify(methods)}`);
  }
  const set = new Set((list as string[]).map((m) => m.toUpperCase()));
  if (set.has('GET')) set.add('HEAD');
  return set;
}

/** The path as rules match it: no query, lower case, no trailing slash (Express's default routing ignores case and a trailing slash). */
function normalisePath(raw: string): string {
  // An absolute-form request target ("POST http://host/login HTTP/1.1") reaches the same route
  // in Express: match rules on its path, or such a request would escape every route rule.
  const url = raw.charCodeAt(0) === 47 /* / */ ? raw : absolutePath(raw);
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  let path = end === url.length ? url : url.slice(0, end);
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 47 /* / */) path = path.slice(0, -1);
  return path.toLowerCase();
}

/** The path of an absolute-form target ("http://h/x?y" -> "/x?y"); "/" for anything unreadable. */
function absolutePath(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return '/';
  }
}

function compilePaths(name: string, patterns: unknown): PathMatcher {
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new EmitterOptionError(`${name} must be a non-empty list of paths such as ['/login'] or ['/api/*'], not ${JSON.stringify(patterns)}`);
  }
  const matcher: PathMatcher = { exact: new Set(), prefixes: [] };
  for (const p of patterns) {
    if (typeof p !== 'string' || !p.startsWith('/') || p.length > 1024 || /[\s?#]/.test(p) || p.indexOf('*') !== p.lastIndexOf('*') || (p.includes('*') && !p.endsWith('*'))) {
      throw new EmitterOptionError(`${name}: ${JSON.stringify(p)} is not a path rule: write an exact path ('/login') or a prefix ending in '*' ('/api/*'), starting with '/'`);
    }
    if (p.endsWith('/*')) matcher.prefixes.push({ base: normalisePath(p.slice(0, -2) || '/'), dirOnly: true });
    else if (p.endsWith('*')) matcher.prefixes.push({ base: p.slice(0, -1).toLowerCase(), dirOnly: false });
    else matcher.exact.add(normalisePath(p));
  }
  return matcher;
}

function pathMatches(m: PathMatcher, path: string): boolean {
  if (m.exact.has(path)) return true;
  for (const { base, dirOnly } of m.prefixes) {
    if (!dirOnly) {
      if (path.startsWith(base)) return true;
    } else if (base === '/' || path === base || (path.startsWith(base) && path.charCodeAt(base.length) === 47)) {
      return true;
    }
  }
  return false;
}

/** Default login username: req.body.username, else req.body.email (as a body parser leaves them). */
function usernameFromBody(req: IncomingMessage): string | null {
  const body = (req as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null) return null;
  const { username, email } = body as { username?: unknown; email?: unknown };
  if (typeof username === 'string') return username;
  return typeof email === 'string' ? email : null;
}

function isStore(value: unknown): value is RateLimitStore {
  return typeof value === 'object' && value !== null && typeof (value as { hit?: unknown }).hit === 'function';
}

// ---------------------------------------------------------------------------------------

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
  const statusCode = options.statusCode ?? 429;
  if (statusCode !== 429 && statusCode !== 403) throw new EmitterOptionError(`statusCode must be 429 (Too Many Requests, the default) or 403, not ${JSON.stringify(statusCode)}`);
  const sendHeaders = options.headers ?? true;
  if (typeof sendHeaders !== 'boolean') throw new EmitterOptionError(`headers must be true or false, not ${JSON.stringify(sendHeaders)}`);
  const keyPrefix = options.keyPrefix ?? 'ipwatch:rl:';
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX_RE.test(keyPrefix)) throw new EmitterOptionError(`keyPrefix must be at most 64 printable ASCII characters without spaces, not ${JSON.stringify(keyPrefix)}`);
  const fallbackMode = options.fallback ?? 'memory';
  if (!FALLBACK_MODES.includes(fallbackMode)) {
    throw new EmitterOptionError(`fallback must be 'memory' (a limiter in this process, the default), 'allow' (fail open) or 'deny' (fail closed), not ${JSON.stringify(fallbackMode)}`);
  }
  const { events, onLimited } = options;
  if (events !== undefined && (typeof events !== 'object' || events === null || typeof events.record !== 'function')) {
    throw new EmitterOptionError('events must be a RateLimitEventAggregator (see createRateLimitEventAggregator)');
  }
  if (onLimited !== undefined && typeof onLimited !== 'function') throw new EmitterOptionError('onLimited must be a function (event) => void');

  // Policies: names are unique, since they name keys and header items. The built-in names
  // stay reserved when their rule is off, so a route cannot take one.
  const policies = new Map<string, Policy>();
  // A rule's keys all start with its name: 'ipwatch:rl:login:' holds both '<ip>' and 'login-user:<name>' keys (the limitKeys never overlap).
  const policy = (name: string, rate: Rate, builtIn = false, keyName = name): Policy => {
    if (policies.has(name) || (!builtIn && RESERVED_NAMES.has(name))) {
      throw new EmitterOptionError(`rule name ${JSON.stringify(name)} is taken ('anonymous', 'authenticated', 'login' and 'login-user' name the built-in rules; a route keyed 'ip+user' also takes '<name>-user')`);
    }
    const p = new Policy(name, rate.limit, rate.windowMs, `${keyPrefix}${keyName}:`);
    policies.set(name, p);
    return p;
  };
  const classRule = (name: 'anonymous' | 'authenticated', fallback: string): Policy | null => {
    const r = rules[name];
    if (r === false) return null;
    return policy(name, parseRate(r ?? fallback, `rules.${name}`), true);
  };
  const anonymousPolicy = classRule('anonymous', '5/m');
  const authenticatedPolicy = classRule('authenticated', '10/m');

  const pathRules: PathRule[] = [];
  let usernameOf: ((req: IncomingMessage) => string | undefined | null) | null = null;
  const login = rules.login ?? {};
  if (login !== false) {
    if (typeof login !== 'object' || login === null) throw new EmitterOptionError("rules.login must be false or an object such as { rate: '3/5m', paths: ['/login'] }");
    if (login.username !== undefined && typeof login.username !== 'function') throw new EmitterOptionError('rules.login.username must be a function (req) => string | null');
    usernameOf = login.username ?? usernameFromBody;
    const rate = parseRate(login.rate ?? '3/5m', 'rules.login.rate');
    pathRules.push({
      kind: 'login',
      methods: compileMethods('rules.login', login.methods, ['POST']),
      paths: compilePaths('rules.login.paths', login.paths ?? ['/login']),
      ipPolicy: policy('login', rate, true),
      userPolicy: policy('login-user', rate, true, 'login'),
      by: 'ip+user',
    });
  }
  const routes = rules.routes ?? [];
  if (!Array.isArray(routes)) throw new EmitterOptionError('rules.routes must be a list of { name, path, rate, methods?, by? }');
  routes.forEach((route, i) => {
    const where = `rules.routes[${i}]`;
    if (typeof route !== 'object' || route === null) throw new EmitterOptionError(`${where} must be { name, path, rate, methods?, by? }`);
    if (typeof route.name !== 'string' || !NAME_RE.test(route.name)) {
      throw new EmitterOptionError(`${where}.name must be 1 to 63 letters, digits, '_', '.' or '-' (it names headers, keys and events), not ${JSON.stringify(route.name)}`);
    }
    const by = route.by ?? 'ip';
    if (by !== 'ip' && by !== 'user' && by !== 'ip+user') throw new EmitterOptionError(`${where}.by must be 'ip', 'user' or 'ip+user', not ${JSON.stringify(route.by)}`);
    const rate = parseRate(route.rate, `${where}.rate`);
    const paths = compilePaths(`${where}.path`, [route.path]);
    const methods = compileMethods(where, route.methods, null);
    // 'user' keys by user id and by IP when anonymous: one policy, two kinds of key.
    const main = policy(route.name, rate);
    pathRules.push({ kind: 'route', methods, paths, ipPolicy: main, userPolicy: by === 'ip+user' ? policy(`${route.name}-user`, rate, false, route.name) : null, by });
  });
  // Requests whose method no path rule lists skip path work entirely (GET with only the login rule).
  const pathRuleMethods = new Set<string>();
  let pathRuleAnyMethod = false;
  for (const r of pathRules) {
    if (r.methods === null) pathRuleAnyMethod = true;
    else for (const m of r.methods) pathRuleMethods.add(m);
  }

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

  let checks = 0;
  let allowedCount = 0;
  let limitedCount = 0;
  const limitedByRule = new Map<string, number>();
  let usernameHookErrors = 0;
  let onLimitedErrors = 0;
  let checkErrors = 0;
  const NOT_LIMITED: RateLimitAllowed = Object.freeze({ limited: false, headers: EMPTY_HEADERS });
  const NOTHING_TO_COUNT = Promise.resolve<RateLimitDecision>(NOT_LIMITED);

  function loginUsername(req: IncomingMessage): string | null {
    try {
      const u = usernameOf!(req);
      if (u === undefined || u === null) return null;
      if (typeof u !== 'string') {
        usernameHookErrors++;
        return null;
      }
      // One person, one key: compatibility forms folded (NFKC, as Django does), invisible characters dropped, case ignored.
      const part = keyPart(u.slice(0, 1024).normalize('NFKC').replace(/\p{Default_Ignorable_Code_Point}/gu, '').trim().toLowerCase());
      return part === null ? null : `login-user:${part}`;
    } catch {
      usernameHookErrors++;
      return null;
    }
  }

  function headersOf(hit: HitResult, counted: Counted[]): Array<[string, string]> {
    let policyHeader = '';
    let rateHeader = '';
    for (let i = 0; i < counted.length; i++) {
      const c = counted[i]!;
      const r = hit.results[i];
      const remaining = r === undefined ? 0 : r.remaining;
      const t = r === undefined ? 0 : Math.ceil(r.resetMs / 1000);
      if (i > 0) {
        policyHeader += ', ';
        rateHeader += ', ';
      }
      policyHeader += c.policy.item;
      rateHeader += `${c.policy.remainingPrefix}${remaining};t=${t}`;
    }
    // draft-ietf-httpapi-ratelimit-headers: both are structured-field lists of "<policy>";params items.
    return [
      ['RateLimit-Policy', policyHeader],
      ['RateLimit', rateHeader],
    ];
  }

  function decide(hit: HitResult, counted: Counted[], req: IncomingMessage, who: RateLimitWho): RateLimitDecision {
    if (hit.allowed) {
      allowedCount++;
      return sendHeaders ? { limited: false, headers: headersOf(hit, counted) } : NOT_LIMITED;
    }
    // The key that asks for the longest wait is the one the client must respect.
    let worst = 0;
    let worstMs = -1;
    for (let i = 0; i < counted.length; i++) {
      const ms = hit.results[i]?.retryAfterMs ?? 0;
      if (ms > worstMs) {
        worst = i;
        worstMs = ms;
      }
    }
    const c = counted[worst]!;
    const retryAfterS = Math.max(1, Math.ceil(worstMs / 1000));
    const headers = headersOf(hit, counted);
    headers.push(['Retry-After', String(retryAfterS)]);
    const decision: RateLimitLimited = {
      limited: true,
      rule: c.policy.name,
      limitKey: c.limitKey,
      limit: c.limit,
      windowMs: c.windowMs,
      statusCode,
      retryAfterS,
      headers,
    };
    if (hit.fallback !== undefined) decision.fallback = hit.fallback;
    limitedCount++;
    limitedByRule.set(c.policy.name, (limitedByRule.get(c.policy.name) ?? 0) + 1);
    if (events !== undefined || onLimited !== undefined) {
      const url = (req as { originalUrl?: unknown }).originalUrl ?? req.url;
      const path = typeof url === 'string' ? url : '';
      events?.record(decision, who.ip, path, who.userId);
      if (onLimited !== undefined) {
        try {
          onLimited({ rule: decision.rule, limitKey: decision.limitKey, limit: decision.limit, windowMs: decision.windowMs, retryAfterS, ip: who.ip, path, userId: who.userId, ...(hit.fallback !== undefined && { fallback: hit.fallback }) });
        } catch {
          onLimitedErrors++;
        }
      }
    }
    return decision;
  }

  function check(req: IncomingMessage, who: RateLimitWho): Promise<RateLimitDecision> {
    checks++;
    try {
      return count(req, who);
    } catch {
      // A bug or a malformed `who` (not a store outage: that is the fallback's): counted, and the request served.
      checkErrors++;
      allowedCount++;
      return NOTHING_TO_COUNT;
    }
  }

  function count(req: IncomingMessage, who: RateLimitWho): Promise<RateLimitDecision> {
    const ipKey = ipLimitKey(who.ip, ipv6Prefix);
    const userKey = who.userId !== null && who.userId !== '' ? `user:${keyPart(who.userId)}` : null;
    const counted: Counted[] = [];
    const cls = who.authenticated ? authenticatedPolicy : anonymousPolicy;
    if (cls !== null) counted.push(new Counted(cls, who.authenticated && userKey !== null ? userKey : ipKey));
    const method = req.method ?? 'GET';
    if (pathRuleAnyMethod || pathRuleMethods.has(method)) {
      const url = (req as { originalUrl?: unknown }).originalUrl ?? req.url;
      const path = normalisePath(typeof url === 'string' ? url : '/');
      for (const r of pathRules) {
        if ((r.methods !== null && !r.methods.has(method)) || !pathMatches(r.paths, path)) continue;
        if (r.kind === 'login') {
          counted.push(new Counted(r.ipPolicy, ipKey));
          const username = loginUsername(req);
          if (username !== null) counted.push(new Counted(r.userPolicy!, username));
        } else if (r.by === 'ip') {
          counted.push(new Counted(r.ipPolicy, ipKey));
        } else if (r.by === 'user') {
          counted.push(new Counted(r.ipPolicy, userKey ?? ipKey));
        } else {
          counted.push(new Counted(r.ipPolicy, ipKey));
          if (userKey !== null) counted.push(new Counted(r.userPolicy!, userKey));
        }
      }
    }
    if (counted.length === 0) {
      allowedCount++;
      return NOTHING_TO_COUNT;
    }
    return store.hit(counted).then((hit) => decide(hit, counted, req, who));
  }

  function respond(res: ServerResponse, decision: RateLimitDecision): boolean {
    if (res.headersSent) return decision.limited;
    const headers = decision.headers;
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i]![0], headers[i]![1]);
    if (!decision.limited) return false;
    const body = JSON.stringify({ error: 'rate limited', rule: decision.rule, retryAfter: decision.retryAfterS });
    res.statusCode = decision.statusCode;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
    return true;
  }

  function stats(): RateLimiterStats {
    return {
      checks,
      allowed: allowedCount,
      limited: limitedCount,
      limitedByRule: Object.fromEntries(limitedByRule),
      usernameHookErrors,
      onLimitedErrors,
      checkErrors,
      store: { kind: primary.kind, ...store.state() },
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

  return { readsRequestBody: usernameOf !== null, check, respond, stats, health, close };
}
