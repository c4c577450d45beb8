/**
 * Login reporting: which requests are login attempts and how each ended, for the event's
 * `login` and `loginUser` fields (the scorer's failed-login and credential-stuffing rules
 * read them). What a login is (paths, methods, the username) is written, checked and
 * matched as the rate limiter's login rule writes it (rateLimit/rules.ts), and by default
 * taken from that rule.
 *
 * @example
 * const report = compileLoginReport({ paths: ['/login'] });
 * report?.isLogin('POST', '/login?next=/'); // true
 * report?.outcomeOf(401); // 'failed'
 */
import type { IncomingMessage } from 'node:http';
import type { LoginOutcome } from '@ipwatch/core/schemas';
import { EmitterOptionError } from './errors.ts';
import { optionalFunction } from './optionChecks.ts';
import { sanitizeHeaderValue } from './sanitize.ts';
import { compileMethods, compilePaths, normalisePath, pathMatches, usernameFromBody, type LoginRuleSettings, type PathMatcher } from './rateLimit/rules.ts';

/**
 * What a login attempt is, for the events (the `login` option of ipwatch(), withIpwatch()
 * and the Fastify plugin). A request whose method and path match is a login attempt: its
 * event says `login: 'failed'` when `failed(status)` holds, `'succeeded'` for any other
 * 2xx or 3xx status, and `'none'` otherwise (a 5xx, a 429, a client that went away: they
 * say nothing about the password), with `loginUser` = `username(req)`. A request ipwatch
 * itself refused (blocked, rate limited) is never a login attempt: the app never saw it.
 *
 * For logins that are not "a status on a path" (a 200 page saying "wrong password", a
 * GraphQL mutation, a second factor), call `loginFailed(req, username?)` /
 * `loginSucceeded(req, username?)` from your handler instead (or as well: a call wins over
 * the status).
 *
 * `{}` takes what a login is from the `rateLimiter`'s login rule (its paths, methods and
 * username hook). Login reporting is off unless this option is given, because events then
 * carry the usernames people typed (personal data, sent as typed even with `anonymise`
 * on: return undefined from `username` if they must not leave the app).
 *
 * @example
 * ipwatch({ log, login: { paths: ['/login', '/api/session'], username: (req) => req.body?.email } });
 * ipwatch({ log, rateLimiter, rateLimitAt: 'mounted', login: {} }); // the rate limiter's login rule says what a login is
 */
export interface LoginReportOptions<Req = IncomingMessage> {
  /**
   * The login paths: exact paths ('/login'), matched without the query string,
   * case-insensitively and with or without a trailing slash (as Express routes them), or a
   * prefix ending in '*', as `rules.login.paths` of the rate limiter. Default: the
   * `rateLimiter`'s login rule's paths; required without one.
   */
  paths?: string[];
  /** Methods of a login. Default ['POST'] (or the rate limiter's login rule's, when `paths` is taken from it). */
  methods?: string[];
  /**
   * Which response statuses are a failed login. Default: 400, 401, 403 and 422 (a refused
   * form, wrong credentials, a locked account, a rejected payload). Errors it throws are
   * counted (stats().loginHookErrors) and the attempt reported as 'none'.
   */
  failed?: (status: number) => boolean;
  /**
   * The username tried, read when the response is done (after your body parser). Default:
   * the rate limiter's login rule's `username` hook if it has one, else a string
   * `username` (else `email`) field of `req.body`. Sanitised and cut to 128 characters; a
   * value that is not a string is ignored (loginUser null); errors are counted.
   */
  username?: (req: Req) => string | null | undefined;
}

/** Longest username an event carries, in UTF-16 units (cut on a code-point boundary). */
export const MAX_LOGIN_USER_LENGTH = 128;

/** Statuses that say the credentials were refused, by default. */
const FAILED_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 422]);
const defaultFailed = (status: number): boolean => FAILED_STATUSES.has(status);

/** The `login` option compiled: a cheap test per request, and the outcome of the ones that match. */
export class LoginReport {
  /** Lengths of the exact paths (with a trailing slash too): a request path of another length is no login, decided without allocating. */
  private readonly lengths: Set<number> | null;
  constructor(
    private readonly methods: Set<string> | null,
    private readonly paths: PathMatcher,
    private readonly failed: (status: number) => boolean,
    /** Reads the username of a login; returns what the hook gave, unchecked. */
    readonly usernameOf: (req: unknown) => unknown,
  ) {
    if (paths.prefixes.length > 0) this.lengths = null;
    else {
      this.lengths = new Set();
      for (const p of paths.exact) {
        this.lengths.add(p.length);
        this.lengths.add(p.length + 1);
      }
    }
  }

  /** True when a request of this method and raw URL (path and query) is a login attempt. */
  isLogin(method: string | undefined, url: string | undefined): boolean {
    // Most requests end here: a GET, or a POST whose path has the wrong length (no allocation either way).
    if (this.methods !== null && (method === undefined || !this.methods.has(method))) return false;
    if (url === undefined) return false;
    if (this.lengths !== null && url.charCodeAt(0) === 47 /* / */) {
      let end = url.indexOf('?');
      if (end === -1) end = url.length;
      const hash = url.indexOf('#');
      if (hash !== -1 && hash < end) end = hash;
      if (!this.lengths.has(end)) return false;
    }
    return pathMatches(this.paths, normalisePath(url));
  }

  /** 'failed', 'succeeded' (2xx, 3xx) or 'none' for a login attempt answered with `status`; throws what `failed` throws. */
  outcomeOf(status: number): LoginOutcome {
    if (this.failed(status)) return 'failed';
    return status >= 200 && status < 400 ? 'succeeded' : 'none';
  }
}

/**
 * A username as events carry it: sanitised (valid printable text) and cut to
 * MAX_LOGIN_USER_LENGTH; null for anything that is not a non-empty string.
 */
export function loginUserOf(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return sanitizeHeaderValue(value, MAX_LOGIN_USER_LENGTH);
}

/**
 * The `login` option with what it leaves out taken from the rate limiter's login rule
 * (`{}`: its paths, methods and username hook; paths of its own: the rule's username hook
 * still). Anything that is not an object is returned as is, for compileLoginReport to refuse.
 */
export function withLimiterLoginRule<Req>(options: LoginReportOptions<Req> | false | undefined, rule: LoginRuleSettings | null | undefined): LoginReportOptions<Req> | false | undefined {
  if (rule === null || rule === undefined || typeof options !== 'object' || options === null || Array.isArray(options)) return options;
  const username = options.username ?? (rule.username as LoginReportOptions<Req>['username']);
  if (options.paths !== undefined) return username === undefined ? options : { ...options, username };
  return { ...options, paths: [...rule.paths], methods: options.methods ?? [...rule.methods], ...(username !== undefined && { username }) };
}

/**
 * Checks the `login` option (at start: a bad one throws an EmitterOptionError) and compiles
 * it; null when login reporting is off (undefined or false).
 */
export function compileLoginReport<Req>(options: LoginReportOptions<Req> | false | undefined): LoginReport | null {
  if (options === undefined || options === false) return null;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new EmitterOptionError(`login must be { paths, methods?, failed?, username? } (or {} to take the rate limiter's login rule), not ${JSON.stringify(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!['paths', 'methods', 'failed', 'username'].includes(name)) throw new EmitterOptionError(`login: unknown option ${JSON.stringify(name)}; it takes paths, methods, failed and username`);
  }
  if (options.paths === undefined) {
    throw new EmitterOptionError("login.paths is required: the paths of your login form, e.g. { paths: ['/login'] } (or give a rateLimiter whose login rule is on, to take its paths)");
  }
  const paths = compilePaths('login.paths', options.paths);
  const methods = compileMethods('login', options.methods, ['POST']);
  const failed = optionalFunction('login.failed', options.failed, '(status) => boolean') ?? defaultFailed;
  const username = optionalFunction('login.username', options.username, '(req) => string | undefined') ?? usernameFromBody;
  return new LoginReport(methods, paths, failed, username as (req: unknown) => unknown);
}

/** What explicit loginFailed(req) calls read the username with when the `login` option is not given: req.body's username or email, as the rate limiter does by default. */
export const defaultUsernameOf = usernameFromBody as (req: unknown) => unknown;
