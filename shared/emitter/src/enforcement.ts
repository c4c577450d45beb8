/**
 * Enforcement in the request path: the allowlist, the block mirror and the rate limiter,
 * in that order, answered before the app sees the request. Blocks are a Map lookup in
 * memory (no I/O); a rate-limit check is one Redis call whose latency is bounded by the
 * client's command timeout, with the fallback limiter behind it. Nothing here throws into
 * the request: a failure lets the request through and is counted.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { WITHHELD_IP } from '@ipwatch/core/privacy';
import type { ObservedRequest, RequestUser } from './requestEvent.ts';
import type { BlockMirror, BlockVerdict } from './blockMirror/blockMirror.ts';
import type { RateLimiter, RateLimitLimited, RateLimitStage } from './rateLimit/rateLimiter.ts';
import type { RateLimitEventAggregator } from './rateLimit/rateLimitEvents.ts';
import { sanitizePath } from './sanitize.ts';
import { EmitterOptionError } from './errors.ts';
import { oneOf, wholeNumber } from './optionChecks.ts';

export interface BlockedResponseOptions {
  /** Status of a blocked request's answer. Default 403. */
  status?: number;
  /** Body for browsers and other clients (text/plain). Default "Forbidden". */
  text?: string;
  /** Body for API clients (Accept: application/json), sent as JSON. Default {"error":"forbidden"}. */
  json?: Record<string, unknown>;
}

export interface EnforcerOptions<Req extends IncomingMessage> {
  mirror?: BlockMirror;
  limiter?: RateLimiter;
  /** Where limited requests become RateLimitEvents. */
  events?: RateLimitEventAggregator;
  /**
   * When rate limits are checked: 'entry' (default), by the ipwatch middleware itself, so every
   * route is covered; 'mounted', by `tracker.limit()` where you mount it, after your auth and
   * body parser, so the authenticated class and the login limit per username see the user
   * (the per-IP login limit is then still counted on arrival: a login the body parser refuses counts).
   */
  limitAt?: 'entry' | 'mounted';
  blocked?: BlockedResponseOptions;
  /** Who the user is (the recorder's checked reading of the app's `user` hook); never throws. */
  user?: (req: Req) => RequestUser | null;
  /**
   * Whether the visitor opted out (the recorder's `optOut` hook and Sec-GPC); never throws.
   * Enforcement itself never asks: an opted-out client is blocked and limited as any other;
   * only its rate-limit refusals leave the app withheld, as its request events do.
   */
  optsOut?: (req: Req, headers: IncomingHttpHeaders, user: RequestUser | null) => boolean;
  /**
   * With anonymisation on: a client's identity as events carry it (the anonymiser's
   * output). Detections, and so blocks, name that identity, so the lists are checked for
   * it as well as for the real address: a block (or an allow) on 203.0.113.0 covers every
   * client a /24-truncating app reports as 203.0.113.0, and one on a hash pseudonym the
   * one client it stands for. Leave it out when anonymisation is off (no second lookup).
   */
  identityOf?: (ip: string) => string;
}

export interface EnforcerStats {
  blocked: number;
  allowlisted: number;
  rateLimited: number;
  /** Checks that failed unexpectedly (the request went through). */
  enforcementErrors: number;
}

export interface Enforcer<Req extends IncomingMessage> {
  /**
   * At arrival: answers blocked requests, and rate-limits them when limitAt is 'entry'; else
   * calls next(). `takeOver` runs right before enforcement writes an answer itself (a
   * framework that owns the response, like Fastify, hands it over there).
   */
  atEntry(req: Req, res: ServerResponse, observed: ObservedRequest | undefined, next: (err?: unknown) => void, takeOver?: () => void): void;
  /** Where `tracker.limit()` is mounted. */
  limit(req: Req, res: ServerResponse, observed: ObservedRequest | undefined, next: (err?: unknown) => void, takeOver?: () => void): void;
  readonly limitAt: 'entry' | 'mounted';
  /** For requests outside the middleware chain (WebSocket upgrades): true when the address is blocked (and not allowlisted); counted. */
  blocks(ip: string): boolean;
  stats(): EnforcerStats;
}

function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('application/json') && !accept.includes('text/html');
}

export function createEnforcer<Req extends IncomingMessage>(options: EnforcerOptions<Req>): Enforcer<Req> {
  const { mirror, limiter, events, user, identityOf, optsOut } = options;
  const limitAt = oneOf('rateLimitAt', options.limitAt ?? 'entry', ['entry', 'mounted'], { entry: 'on arrival, the default', mounted: 'where tracker.limit() is mounted' });
  const status = wholeNumber('blocked.status', options.blocked?.status ?? 403, 400, 599, undefined, 'an HTTP error status');
  const text = options.blocked?.text ?? 'Forbidden';
  if (typeof text !== 'string') throw new EmitterOptionError(`blocked.text must be a string, the body blocked clients read, not ${JSON.stringify(text) ?? String(text)}`);
  const json = JSON.stringify(options.blocked?.json ?? { error: 'forbidden' });
  const stats: EnforcerStats = { blocked: 0, allowlisted: 0, rateLimited: 0, enforcementErrors: 0 };
  // Requests the allowlist let through at entry: tracker.limit() counts them only under the limits that apply to allowlisted clients.
  const allowlisted = new WeakSet<IncomingMessage>();

  function answerBlocked(req: Req, res: ServerResponse): void {
    const asJson = wantsJson(req);
    const body = asJson ? json : text;
    res.statusCode = status;
    res.setHeader('content-type', asJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.setHeader('cache-control', 'no-store');
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  function checkLimit(req: Req, res: ServerResponse, ip: string, observed: ObservedRequest | undefined, next: (err?: unknown) => void, takeOver: (() => void) | undefined, stage: RateLimitStage, listed: boolean): void {
    const l = limiter as RateLimiter;
    const u = user?.(req) ?? null;
    let settled = false;
    l.check(req, { ip, userId: u?.id ?? null, authenticated: u?.authenticated ?? false, allowlisted: listed }, stage)
      .then((decision) => {
        if (decision.limited) {
          stats.rateLimited++;
          observed?.markRateLimited();
          recordRefusal(decision, ip, observed, req, res, u);
          takeOver?.();
        }
        settled = true;
        // respond() answers a refused request, or sets an admitted one's RateLimit headers.
        if (!l.respond(res, decision)) next();
      })
      .catch((err: unknown) => {
        // The limiter answers store failures itself (fallback), so this is a bug here or an
        // error thrown by the app's own next handlers: serve (once), never crash the process.
        stats.enforcementErrors++;
        if (!settled) next();
        else if (!res.headersSent) next(err);
      });
  }

  /** Enforcement used the real address `ip`; what leaves the app is the address as events carry it (anonymised), or nothing personal for a visitor who opted out. */
  function recordRefusal(decision: RateLimitLimited, ip: string, observed: ObservedRequest | undefined, req: Req, res: ServerResponse, u: RequestUser | null): void {
    if (!events) return;
    // res.req: node's own request, whose headers carry Sec-GPC (Fastify's request is another object).
    if (optsOut?.(req, (res.req ?? req).headers ?? {}, u)) {
      // Folded into one event per rule: the refusals still count, naming nobody (no address, key, path or user).
      events.record({ ...decision, limitKey: WITHHELD_IP }, WITHHELD_IP, '', null);
      return;
    }
    const shown = observed?.eventIp() ?? ip;
    // An IP-derived limit key would carry the real address too: it is replaced by the anonymised one.
    const refusal = shown !== ip && !decision.limitKey.includes('user:') ? { ...decision, limitKey: shown } : decision;
    events.record(refusal, shown, sanitizePath(req.url, 512), u?.id ?? null);
  }

  /**
   * The lists' verdict for a client: its real address (manual blocks of real IPs), and with
   * anonymisation on its identity too. The allowlist wins over any block, on either.
   */
  function verdictOf(m: BlockMirror, ip: string, observed: ObservedRequest | undefined): BlockVerdict {
    const real = m.check(ip);
    if (identityOf === undefined || real === 'allowed') return real;
    const shown = observed === undefined ? identityOf(ip) : observed.eventIp();
    if (shown === ip) return real;
    const own = m.check(shown);
    return own === 'allowed' ? own : (real ?? own);
  }

  /** The client's address; 0.0.0.0 (no socket address, or a forwarded 0.0.0.0) is enforced like any other. */
  function clientIp(observed: ObservedRequest | undefined): string | null {
    return observed === undefined ? null : observed.clientIp();
  }

  return {
    limitAt,
    atEntry(req, res, observed, next, takeOver) {
      // The verdict is decided inside try; next() is called outside it, so an error thrown by
      // the app's own handlers is never caught here and the handlers never run twice.
      let verdict: 'next' | 'blocked' | 'limit' = 'next';
      let ip: string | null = null;
      let listed: 'blocked' | 'allowed' | null = null;
      try {
        ip = clientIp(observed);
        listed = ip === null || mirror === undefined ? null : verdictOf(mirror, ip, observed);
        if (listed === 'blocked') verdict = 'blocked';
        else if (listed === 'allowed') {
          stats.allowlisted++;
          if (limitAt === 'mounted') allowlisted.add(req);
          else if (limiter?.countsAllowlisted) verdict = 'limit';
        } else if (ip !== null && limiter && (limitAt === 'entry' || limiter.countsOnArrival(req))) verdict = 'limit';
      } catch {
        stats.enforcementErrors++;
      }
      if (verdict === 'blocked') {
        stats.blocked++;
        observed?.markBlocked();
        takeOver?.();
        answerBlocked(req, res);
      } else if (verdict === 'limit') checkLimit(req, res, ip as string, observed, next, takeOver, limitAt === 'entry' ? 'whole' : 'arrival', listed === 'allowed');
      else next();
    },
    limit(req, res, observed, next, takeOver) {
      let ip: string | null = null;
      let listed = false;
      try {
        listed = allowlisted.has(req);
        ip = limiter && (!listed || limiter.countsAllowlisted) ? clientIp(observed) : null;
      } catch {
        stats.enforcementErrors++;
      }
      if (ip === null) next();
      else checkLimit(req, res, ip, observed, next, takeOver, 'mounted', listed);
    },
    blocks(ip) {
      try {
        if (mirror === undefined || verdictOf(mirror, ip, undefined) !== 'blocked') return false;
      } catch {
        stats.enforcementErrors++;
        return false;
      }
      stats.blocked++;
      return true;
    },
    stats: () => ({ ...stats }),
  };
}
