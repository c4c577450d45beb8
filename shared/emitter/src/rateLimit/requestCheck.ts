/**
 * The rate limiter's per-request path: the keys a request counts under (its class, and the
 * path rules its method and path match), one store call for all of them, and the decision
 * with its headers; a refusal also goes to the events and the onLimited hook. Everything it
 * reads was compiled at construction (rules.ts).
 *
 * @example
 * const requests = createRequestCheck({ rules: compileRules({}, 'ipwatch:rl:'), store, ipv6Prefix: 64, statusCode: 429, sendHeaders: true });
 * const decision = await requests.check(req, { ip: '203.0.113.7', userId: null, authenticated: false });
 * requests.respond(res, decision);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ipLimitKey, keyPart, usernameKey } from './limitKey.ts';
import type { RateLimitEventAggregator } from './rateLimitEvents.ts';
import { Counted, normalisePath, pathMatches, usernameFromBody as defaultUsernameOf, type CompiledRules } from './rules.ts';
import type { HitResult, RateLimitStore } from './store.ts';
import type { RateLimitAllowed, RateLimitDecision, RateLimitedEvent, RateLimitHeaders, RateLimitLimited, RateLimiterStats, RateLimitStage, RateLimitWho } from './types.ts';

export interface RequestCheckSettings {
  rules: CompiledRules;
  /** The store wrapped in its fallback policy: a hit never rejects. */
  store: RateLimitStore;
  ipv6Prefix: number;
  statusCode: 429 | 403;
  sendHeaders: boolean;
  events?: RateLimitEventAggregator | undefined;
  onLimited?: ((event: RateLimitedEvent) => void) | undefined;
}

export interface RequestCheck {
  check(req: IncomingMessage, who: RateLimitWho, stage?: RateLimitStage): Promise<RateLimitDecision>;
  countsOnArrival(req: IncomingMessage): boolean;
  respond(res: ServerResponse, decision: RateLimitDecision): boolean;
  /** What the checks counted so far. */
  counters(): Omit<RateLimiterStats, 'store' | 'memoryStore' | 'events'>;
}

const EMPTY_HEADERS: RateLimitHeaders = Object.freeze([]);
/** Names a login is counted under at most: a repeated field is a list, and an app may read its first or its last. */
const MAX_USERNAMES = 4;
/** One key for every username that is not a string or a short list of strings (the space keeps any real username's key apart: see keyPart). */
export const MALFORMED_USERNAME_KEY = 'login-user:(malformed username)';
/** The headers an earlier stage's decision set are added to, not replaced. */
const LISTED_HEADERS = new Set(['RateLimit-Policy', 'RateLimit']);

export function createRequestCheck(settings: RequestCheckSettings): RequestCheck {
  // Locals, not property reads: this runs on every request.
  const { store, ipv6Prefix, statusCode, sendHeaders, events, onLimited } = settings;
  const { anonymous: anonymousPolicy, authenticated: authenticatedPolicy, pathRules, pathRuleMethods, pathRuleAnyMethod, usernameOf } = settings.rules;

  let checks = 0;
  let allowedCount = 0;
  let limitedCount = 0;
  const limitedByRule = new Map<string, number>();
  let usernameHookErrors = 0;
  let onLimitedErrors = 0;
  let checkErrors = 0;
  const NOT_LIMITED: RateLimitAllowed = Object.freeze({ limited: false, headers: EMPTY_HEADERS });
  const NOTHING_TO_COUNT = Promise.resolve<RateLimitDecision>(NOT_LIMITED);
  const loginRule = pathRules.find((r) => r.kind === 'login') ?? null;


  /** The login's username keys: one for a string, one per name of a short list, the shared malformed key for anything else; [] when there is none. */
  function loginUsernames(req: IncomingMessage): string[] {
    let u: unknown;
    try {
      u = usernameOf!(req);
    } catch {
      usernameHookErrors++;
      return [];
    }
    if (u === undefined || u === null) return [];
    if (typeof u === 'string') {
      const key = usernameKey(u);
      return key === null ? [] : [key];
    }
    // A repeated field (username=a&username=a) is a list: dropping it would skip the per-username limit.
    const keys: string[] = [];
    let malformed = !Array.isArray(u) || u.length > MAX_USERNAMES;
    if (Array.isArray(u)) {
      for (let i = 0; i < u.length && i < MAX_USERNAMES; i++) {
        const item: unknown = u[i];
        const key = typeof item === 'string' ? usernameKey(item) : null;
        if (typeof item !== 'string') malformed = true;
        else if (key !== null && !keys.includes(key)) keys.push(key);
      }
    } else if (usernameOf !== defaultUsernameOf) {
      usernameHookErrors++; // the app's hook returned something it should not have
    }
    if (malformed) keys.push(MALFORMED_USERNAME_KEY);
    return keys;
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

  function check(req: IncomingMessage, who: RateLimitWho, stage: RateLimitStage = 'whole'): Promise<RateLimitDecision> {
    checks++;
    try {
      return count(req, who, stage);
    } catch {
      // A bug or a malformed `who` (not a store outage: that is the fallback's): counted, and the request served.
      checkErrors++;
      allowedCount++;
      return NOTHING_TO_COUNT;
    }
  }

  function countsOnArrival(req: IncomingMessage): boolean {
    if (loginRule === null) return false;
    const method = req.method ?? 'GET';
    if (loginRule.methods !== null && !loginRule.methods.has(method)) return false;
    const url = (req as { originalUrl?: unknown }).originalUrl ?? req.url;
    return pathMatches(loginRule.paths, normalisePath(typeof url === 'string' ? url : '/'));
  }

  function count(req: IncomingMessage, who: RateLimitWho, stage: RateLimitStage): Promise<RateLimitDecision> {
    const ipKey = ipLimitKey(who.ip, ipv6Prefix);
    const userKey = who.userId !== null && who.userId !== '' ? `user:${keyPart(who.userId)}` : null;
    // The allowlist skips every limit but those that protect an account whoever asks (the per-username login limit).
    const allowlisted = who.allowlisted === true;
    const counted: Counted[] = [];
    const cls = allowlisted || stage === 'arrival' ? null : who.authenticated ? authenticatedPolicy : anonymousPolicy;
    if (cls !== null) counted.push(new Counted(cls, who.authenticated && userKey !== null ? userKey : ipKey));
    const method = req.method ?? 'GET';
    if (pathRuleAnyMethod || pathRuleMethods.has(method)) {
      const url = (req as { originalUrl?: unknown }).originalUrl ?? req.url;
      const path = normalisePath(typeof url === 'string' ? url : '/');
      for (const r of pathRules) {
        if ((allowlisted && !r.countsAllowlisted) || (stage === 'arrival' && r.kind !== 'login')) continue;
        if ((r.methods !== null && !r.methods.has(method)) || !pathMatches(r.paths, path)) continue;
        if (r.kind === 'login') {
          // Per IP on arrival (limits mounted): a login the body parser then refuses has still counted.
          if (!allowlisted && stage !== 'mounted') counted.push(new Counted(r.ipPolicy, ipKey));
          if (stage === 'arrival') continue;
          for (const username of loginUsernames(req)) counted.push(new Counted(r.userPolicy!, username));
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
    for (let i = 0; i < headers.length; i++) {
      const [name, value] = headers[i]!;
      // Limits checked in two stages (on arrival, then where mounted) list all their policies.
      const earlier = LISTED_HEADERS.has(name) ? res.getHeader(name) : undefined;
      res.setHeader(name, typeof earlier === 'string' && earlier !== '' ? `${earlier}, ${value}` : value);
    }
    if (!decision.limited) return false;
    const body = JSON.stringify({ error: 'rate limited', rule: decision.rule, retryAfter: decision.retryAfterS });
    res.statusCode = decision.statusCode;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
    return true;
  }

  function counters(): Omit<RateLimiterStats, 'store' | 'memoryStore' | 'events'> {
    return {
      checks,
      allowed: allowedCount,
      limited: limitedCount,
      limitedByRule: Object.fromEntries(limitedByRule),
      usernameHookErrors,
      onLimitedErrors,
      checkErrors,
    };
  }

  return { check, countsOnArrival, respond, counters };
}
