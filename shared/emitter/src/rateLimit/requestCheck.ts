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
import { ipLimitKey, keyPart } from './limitKey.ts';
import type { RateLimitEventAggregator } from './rateLimitEvents.ts';
import { Counted, normalisePath, pathMatches, type CompiledRules } from './rules.ts';
import type { HitResult, RateLimitStore } from './store.ts';
import type { RateLimitAllowed, RateLimitDecision, RateLimitedEvent, RateLimitHeaders, RateLimitLimited, RateLimiterStats, RateLimitWho } from './types.ts';

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
  check(req: IncomingMessage, who: RateLimitWho): Promise<RateLimitDecision>;
  respond(res: ServerResponse, decision: RateLimitDecision): boolean;
  /** What the checks counted so far. */
  counters(): Omit<RateLimiterStats, 'store' | 'events'>;
}

const EMPTY_HEADERS: RateLimitHeaders = Object.freeze([]);

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

  function counters(): Omit<RateLimiterStats, 'store' | 'events'> {
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

  return { check, respond, counters };
}
