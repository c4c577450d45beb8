/**
 * Who is calling the api: the one place a request's identity is decided. A named token
 * (IPWATCH_API_TOKEN, IPWATCH_SCORER_TOKEN) makes the caller that token's name; without an
 * operators' token a request addressed to a loopback name is `local`. The identity travels on
 * `res.locals.caller` to the routes that record who changed what; nothing the caller writes
 * in a body or a query can change it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { parseApiToken, type ApiToken } from '@ipwatch/core/config';
import { IpwatchError } from '@ipwatch/core/errors';
import { isLoopbackHost } from '@ipwatch/core/hostGuard';
import { clientKey, createFailedAuthThrottle, type FailedAuthThrottleOptions } from './failedAuthThrottle.ts';

/** Who made a request, as the audit trail records it. */
export interface Caller {
  /** The token's name, or `local` for an unauthenticated loopback request. */
  name: string;
  /** Only the scorer's own token may block with a rule's name as source. */
  mayUseRuleSources: boolean;
}

/** What `authenticate` counts: wrong or missing tokens, and requests refused for too many wrong ones. */
export const AUTH_REFUSALS = ['wrong_token', 'missing_token', 'throttled'] as const;
export type AuthRefusal = (typeof AUTH_REFUSALS)[number];

export interface AuthenticationOptions {
  /** The operators' token (IPWATCH_API_TOKEN); null: loopback requests only, as `local`. */
  token: string | ApiToken | null;
  /** The scorer's token (IPWATCH_SCORER_TOKEN). */
  scorerToken?: string | ApiToken | null;
  throttle?: FailedAuthThrottleOptions;
  /** Told of every refusal (a metric counts them). */
  onRefusal?: (reason: AuthRefusal) => void;
}

/** RFC 7235: the scheme name is case-insensitive; one or more spaces before the credential. */
const BEARER = /^bearer +(\S+)$/i;

const digest = (s: string) => createHash('sha256').update(s).digest();

interface Credential {
  caller: Caller;
  /** The secret alone, and `name:secret` as the variable may hold it: either is accepted. */
  digests: [Buffer, Buffer];
}

function credential(variable: string, token: string | ApiToken, defaultName: string, mayUseRuleSources: boolean): Credential {
  const t = typeof token === 'string' ? parseApiToken(variable, token, defaultName) : token;
  return { caller: { name: t.name, mayUseRuleSources }, digests: [digest(t.secret), digest(`${t.name}:${t.secret}`)] };
}

/** The caller a request was authenticated as; set by `authenticate` before any route runs. */
export function callerOf(res: Response): Caller {
  const caller = (res.locals as { caller?: Caller }).caller;
  if (!caller) throw new IpwatchError('IPWATCH_INTERNAL', 'the api failed (internal error): a route ran without an authenticated caller');
  return caller;
}

/**
 * @example
 * app.use('/api', authenticate({ token: config.api.token, scorerToken: config.api.scorerToken }));
 * app.post('/api/blocks', (req, res) => changes.block(req.body, callerOf(res)));
 */
/**
 * The caller a secret proves (the operators' token, or the scorer's), compared with every
 * credential in constant time (no early exit); null when it proves none. The dashboard's
 * sign-in takes the operators' token the same way.
 *
 * @example
 * const match = tokenMatcher(config.api.token, config.api.scorerToken);
 * match(given)?.name; // 'admin', 'ops', 'scorer' ... or undefined
 */
export function tokenMatcher(token: string | ApiToken | null, scorerToken: string | ApiToken | null = null): (given: string) => Caller | null {
  const credentials: Credential[] = [];
  if (token) credentials.push(credential('IPWATCH_API_TOKEN', token, 'admin', false));
  if (scorerToken) credentials.push(credential('IPWATCH_SCORER_TOKEN', scorerToken, 'scorer', true));
  return (given) => {
    const d = digest(given);
    let found: Caller | null = null;
    for (const c of credentials) {
      const hit = [timingSafeEqual(d, c.digests[0]), timingSafeEqual(d, c.digests[1])].includes(true);
      if (hit && found === null) found = c.caller;
    }
    return found;
  };
}

export function authenticate(options: AuthenticationOptions): RequestHandler {
  const match = tokenMatcher(options.token, options.scorerToken ?? null);
  const hasCredentials = Boolean(options.token || options.scorerToken);
  const loopbackOnly = !options.token;
  const throttle = createFailedAuthThrottle(options.throttle);
  const refused = (reason: AuthRefusal) => options.onRefusal?.(reason);

  return (req: Request, res: Response, next: NextFunction) => {
    const client = clientKey(req.socket.remoteAddress);
    const waitMs = throttle.retryAfterMs(client);
    if (waitMs > 0) {
      refused('throttled');
      const seconds = Math.ceil(waitMs / 1000);
      res.set('Retry-After', String(seconds));
      throw new IpwatchError('IPWATCH_AUTH_THROTTLED', `too many wrong API tokens from this address: wait ${seconds} s, then retry with the right IPWATCH_API_TOKEN`);
    }
    const given = BEARER.exec(req.get('authorization') ?? '')?.[1];
    // With no credential configured a bearer is ignored, as before there were any.
    if (given !== undefined && hasCredentials) {
      const caller = match(given);
      if (caller) {
        res.locals.caller = caller;
        return next();
      }
      throttle.failed(client);
      refused('wrong_token');
    } else if (loopbackOnly) {
      // No token means loopback only. Checking Host too stops a web page that points its own
      // name at 127.0.0.1 (DNS rebinding) from reading the API through the user's browser.
      if (isLoopbackHost(req.get('host'))) {
        res.locals.caller = { name: 'local', mayUseRuleSources: false } satisfies Caller;
        return next();
      }
      throw new IpwatchError('IPWATCH_LOOPBACK_ONLY', 'without IPWATCH_API_TOKEN the api answers only requests addressed to 127.0.0.1, localhost or [::1]: call it on 127.0.0.1, or give it a token');
    } else {
      refused('missing_token');
    }
    res.set('WWW-Authenticate', 'Bearer');
    throw new IpwatchError('IPWATCH_BAD_TOKEN', 'missing or wrong API token: set IPWATCH_API_TOKEN to the api\'s token (the CLI sends it as "Authorization: Bearer <token>")');
  };
}
