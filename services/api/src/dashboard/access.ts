/**
 * Who may see the dashboard, and how they prove it: a sign-in with the operators' token
 * (IPWATCH_API_TOKEN) that opens a session (a random id in an HttpOnly, SameSite=Strict
 * cookie, Secure when the page came over TLS), or, with no token configured, anyone whose
 * request is addressed to a loopback name (the demo: every page says so). Every request that
 * changes something must come from the dashboard's own pages (Fetch metadata, with an
 * Origin/Host fallback). Failed sign-ins are slowed down and counted. Forms that cannot be
 * undone (a privacy export or erasure) carry a token of the session as well (a hidden `csrf`
 * field, checked by `checkCsrf`): a page of another site cannot read it, whatever the browser sends.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { isLoopbackHost } from '@ipwatch/core/hostGuard';
import { tokenMatcher, type Caller } from '../authentication.ts';
import { clientKey, createFailedAuthThrottle, type FailedAuthThrottleOptions } from '../failedAuthThrottle.ts';

export const SESSION_COOKIE = 'ipwatch_session';
const SESSION_MS = 12 * 3600_000;

/** The signed-in person, on `res.locals.viewer` for every page. */
export interface Viewer {
  caller: Caller;
  /** No sign-in: no token is configured and the request came to a loopback name. */
  open: boolean;
  /** The session's form token (an HMAC of its id under a key of this process; one for the open mode). */
  csrf: string;
}

export interface AccessOptions {
  /** IPWATCH_API_TOKEN (`secret` or `name:secret`); null: loopback only, no sign-in. */
  token: string | null;
  throttle?: FailedAuthThrottleOptions;
  /** Told of each failed sign-in (a metric, a log line). */
  onSignInFailed?: (client: string) => void;
  now?: () => number;
}

export interface Access {
  /** Sets `res.locals.viewer`, or sends the visitor to /login (a page) or refuses (anything else). */
  requireViewer: RequestHandler;
  /** Refuses a state-changing request that did not come from the dashboard's own pages. */
  sameSiteOnly: RequestHandler;
  /** Checks a token; on success opens a session (sets the cookie) and returns the caller. */
  signIn(req: Request, res: Response, token: string): Caller | null;
  signOut(req: Request, res: Response): void;
  /** Seconds to wait before another sign-in attempt from this client (0: go ahead). */
  retryAfterSeconds(req: Request): number;
  readonly tokenRequired: boolean;
}

/** The viewer a page runs for (set by `requireViewer`). */
export function viewerOf(res: Response): Viewer {
  const viewer = (res.locals as { viewer?: Viewer }).viewer;
  if (!viewer) throw new IpwatchError('IPWATCH_INTERNAL', 'the dashboard failed (internal error): a page ran without a viewer');
  return viewer;
}

function cookieOf(req: Request, name: string): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** A path on this site to go back to after signing in; anything else (another origin, //host) is the overview. */
export function localPath(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/';
}

export function createAccess(options: AccessOptions): Access {
  const now = options.now ?? Date.now;
  const match = tokenMatcher(options.token);
  const throttle = createFailedAuthThrottle(options.throttle);
  const sessions = new Map<string, { caller: Caller; expiresAt: number }>();
  const csrfKey = randomBytes(32);
  const csrfOf = (sessionId: string) => createHmac('sha256', csrfKey).update(sessionId).digest('base64url');

  function session(req: Request): { id: string; caller: Caller } | null {
    const id = cookieOf(req, SESSION_COOKIE);
    if (id === null) return null;
    const s = sessions.get(id);
    if (!s) return null;
    if (s.expiresAt <= now()) {
      sessions.delete(id);
      return null;
    }
    s.expiresAt = now() + SESSION_MS;
    return { id, caller: s.caller };
  }

  const requireViewer: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (!options.token) {
      // As the api: no token means requests addressed to loopback only (a page of another site
      // that points its own name at 127.0.0.1 is refused).
      if (!isLoopbackHost(req.get('host'))) {
        throw new IpwatchError('IPWATCH_LOOPBACK_ONLY', 'without IPWATCH_API_TOKEN the dashboard answers only on 127.0.0.1, localhost or [::1]: open it there, or set IPWATCH_API_TOKEN and sign in with it');
      }
      res.locals.viewer = { caller: { name: 'local', mayUseRuleSources: false }, open: true, csrf: csrfOf('open') } satisfies Viewer;
      return next();
    }
    const signedIn = session(req);
    if (signedIn) {
      res.locals.viewer = { caller: signedIn.caller, open: false, csrf: csrfOf(`session:${signedIn.id}`) } satisfies Viewer;
      return next();
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.redirect(303, `/login?next=${encodeURIComponent(localPath(req.originalUrl))}`);
      return;
    }
    throw new IpwatchError('IPWATCH_BAD_TOKEN', 'sign in first: this dashboard needs a session (open /login)');
  };

  const sameSiteOnly: RequestHandler = (req: Request, _res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const site = req.get('sec-fetch-site');
    const origin = req.get('origin');
    const fromHere =
      site !== undefined ? site === 'same-origin' || site === 'none'
      : origin !== undefined ? sameOrigin(origin, req.get('host'))
      // No browser metadata at all: not a browser riding a cookie (SameSite=Strict keeps those out too).
      : true;
    if (!fromHere) throw new IpwatchError('IPWATCH_CROSS_ORIGIN', 'cross-site requests are refused: change things from the dashboard\'s own pages');
    next();
  };

  return {
    tokenRequired: options.token !== null,
    requireViewer,
    sameSiteOnly,
    retryAfterSeconds(req) {
      return Math.ceil(throttle.retryAfterMs(clientKey(req.socket.remoteAddress)) / 1000);
    },
    signIn(req, res, token) {
      const client = clientKey(req.socket.remoteAddress);
      const caller = token ? match(token) : null;
      if (!caller) {
        throttle.failed(client);
        options.onSignInFailed?.(client);
        return null;
      }
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, { caller, expiresAt: now() + SESSION_MS });
      const secure = req.protocol === 'https' ? '; Secure' : '';
      res.append('Set-Cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${secure}`);
      return caller;
    },
    signOut(req, res) {
      const id = cookieOf(req, SESSION_COOKIE);
      if (id !== null) sessions.delete(id);
      res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    },
  };
}

/** The hidden field a form that must carry the session's token includes. */
export const CSRF_FIELD = 'csrf';

/**
 * Refuses a posted form without the viewer's token (403): it did not come from a page this
 * session opened (another site's form, or a page from before signing in again).
 */
export function checkCsrf(req: Request, res: Response): void {
  const body = req.body as Record<string, unknown> | undefined;
  const given = Buffer.from(typeof body?.[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : '');
  const expected = Buffer.from(viewerOf(res).csrf);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new IpwatchError('IPWATCH_CROSS_ORIGIN', 'the form came without this session\'s token: it was not sent from a page of this dashboard, or the page is from before you signed in again; open the page again and resubmit');
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
