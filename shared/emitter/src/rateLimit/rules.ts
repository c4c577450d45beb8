/**
 * The limiter's rules compiled once, at construction: rates parsed, each policy's store key
 * prefix and header items built, paths and methods into Sets and prefixes, and the methods
 * any path rule lists gathered, so a request whose method none lists skips path work.
 *
 * @example
 * const compiled = compileRules({ anonymous: '5/m', login: { rate: '3/5m' } }, 'ipwatch:rl:');
 * compiled.anonymous?.item; // "anonymous";q=5;w=60
 */
import type { IncomingMessage } from 'node:http';
import { EmitterOptionError } from '../errors.ts';
import { oneOf, optionalFunction } from '../optionChecks.ts';
import { parseRate, type Rate } from './rate.ts';
import type { RateLimitCheck } from './store.ts';
import type { RateLimitRulesOptions, RouteKeyedBy } from './types.ts';

/** One policy as the headers name it; a two-key rule has two (e.g. 'login' per IP, 'login-user' per username). */
export class Policy {
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
export class Counted implements RateLimitCheck {
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

export interface PathMatcher {
  exact: Set<string>;
  /** Prefixes (lower-cased); a '/x/*' pattern also matches '/x'. */
  prefixes: Array<{ base: string; dirOnly: boolean }>;
}

export interface PathRule {
  kind: 'login' | 'route';
  /** null: every method. */
  methods: Set<string> | null;
  paths: PathMatcher;
  ipPolicy: Policy;
  /** Per-user (routes) or per-username (login) policy, or null. */
  userPolicy: Policy | null;
  by: RouteKeyedBy;
  /** Counted for allowlisted clients too (the login rule's per-username limit, unless 'exempt'). */
  countsAllowlisted: boolean;
}

/** Everything a request is checked against, as compileRules built it. */
export interface CompiledRules {
  /** The class rules; null when switched off. */
  anonymous: Policy | null;
  authenticated: Policy | null;
  /** Login first (when on), then the routes in the order given. */
  pathRules: PathRule[];
  /** Methods some path rule lists; with pathRuleAnyMethod false, other methods skip path work. */
  pathRuleMethods: Set<string>;
  pathRuleAnyMethod: boolean;
  /** The login username hook (the default reads req.body); null when the login rule is off. What it returns is checked per request. */
  usernameOf: ((req: IncomingMessage) => unknown) | null;
  /** Some rule counts allowlisted clients. */
  countsAllowlisted: boolean;
  /** The login rule's paths, methods and username hook as given (defaults applied), for the tracker's login reporting to reuse; null when the rule is off. */
  login: LoginRuleSettings | null;
}

/** What a login is, as the login rule was given: the tracker's `login` option reads it when its own paths are left out. */
export interface LoginRuleSettings {
  readonly paths: readonly string[];
  readonly methods: readonly string[];
  /** The app's `rules.login.username`; undefined when it gave none (the default reads req.body). */
  readonly username: ((req: IncomingMessage) => unknown) | undefined;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const METHOD_RE = /^[A-Za-z]{1,20}$/;
const RESERVED_NAMES = new Set(['anonymous', 'authenticated', 'login', 'login-user']);

/** Checks and compiles the rules; their store keys start with `keyPrefix`. */
export function compileRules(rules: RateLimitRulesOptions, keyPrefix: string): CompiledRules {
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
  let usernameOf: ((req: IncomingMessage) => unknown) | null = null;
  let loginSettings: LoginRuleSettings | null = null;
  const login = rules.login ?? {};
  if (login !== false) {
    if (typeof login !== 'object' || login === null) throw new EmitterOptionError("rules.login must be false or an object such as { rate: '3/5m', paths: ['/login'] }");
    usernameOf = optionalFunction('rules.login.username', login.username, '(req) => string | null') ?? usernameFromBody;
    const rate = parseRate(login.rate ?? '3/5m', 'rules.login.rate');
    const allowlisted = oneOf('rules.login.allowlisted', login.allowlisted ?? 'per-username', ['per-username', 'exempt'], {
      'per-username': 'allowlisted clients are counted per username, the default',
      exempt: 'allowlisted clients skip the login limit',
    });
    const loginPaths = login.paths ?? ['/login'];
    const loginMethods = login.methods ?? ['POST'];
    pathRules.push({
      kind: 'login',
      methods: compileMethods('rules.login', loginMethods, ['POST']),
      paths: compilePaths('rules.login.paths', loginPaths),
      ipPolicy: policy('login', rate, true),
      userPolicy: policy('login-user', rate, true, 'login'),
      by: 'ip+user',
      countsAllowlisted: allowlisted === 'per-username',
    });
    loginSettings = Object.freeze({ paths: Object.freeze([...loginPaths]), methods: Object.freeze([...loginMethods]), username: login.username });
  }
  const routes = rules.routes ?? [];
  if (!Array.isArray(routes)) throw new EmitterOptionError('rules.routes must be a list of { name, path, rate, methods?, by? }');
  routes.forEach((route, i) => {
    const where = `rules.routes[${i}]`;
    if (typeof route !== 'object' || route === null) throw new EmitterOptionError(`${where} must be { name, path, rate, methods?, by? }`);
    if (typeof route.name !== 'string' || !NAME_RE.test(route.name)) {
      throw new EmitterOptionError(`${where}.name must be 1 to 63 letters, digits, '_', '.' or '-' (it names headers, keys and events), not ${JSON.stringify(route.name)}`);
    }
    const by = oneOf<RouteKeyedBy>(`${where}.by`, route.by ?? 'ip', ['ip', 'user', 'ip+user']);
    const rate = parseRate(route.rate, `${where}.rate`);
    const paths = compilePaths(`${where}.path`, [route.path]);
    const methods = compileMethods(where, route.methods, null);
    // 'user' keys by user id and by IP when anonymous: one policy, two kinds of key.
    const main = policy(route.name, rate);
    pathRules.push({ kind: 'route', methods, paths, ipPolicy: main, userPolicy: by === 'ip+user' ? policy(`${route.name}-user`, rate, false, route.name) : null, by, countsAllowlisted: false });
  });
  // Requests whose method no path rule lists skip path work entirely (GET with only the login rule).
  const pathRuleMethods = new Set<string>();
  let pathRuleAnyMethod = false;
  for (const r of pathRules) {
    if (r.methods === null) pathRuleAnyMethod = true;
    else for (const m of r.methods) pathRuleMethods.add(m);
  }
  return {
    anonymous: anonymousPolicy,
    authenticated: authenticatedPolicy,
    pathRules,
    pathRuleMethods,
    pathRuleAnyMethod,
    usernameOf,
    countsAllowlisted: pathRules.some((r) => r.countsAllowlisted),
    login: loginSettings,
  };
}

/** Checks a rule's methods (upper-cased; GET covers HEAD); `fallback` when none are given, null: every method. */
export function compileMethods(name: string, methods: unknown, fallback: string[] | null): Set<string> | null {
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
export function normalisePath(raw: string): string {
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

/** Checks and compiles path rules: exact paths ('/login') into a Set, prefixes ('/api/*') into a list; matched by pathMatches on a normalisePath'd path. */
export function compilePaths(name: string, patterns: unknown): PathMatcher {
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

export function pathMatches(m: PathMatcher, path: string): boolean {
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

/**
 * Default login username: req.body.username, else req.body.email, as a body parser leaves
 * them: a string, or a list for a repeated field (username=a&username=a), or an object from
 * a nested one (username[x]=a). Returned as found: the check counts each form (requestCheck.ts).
 */
export function usernameFromBody(req: IncomingMessage): unknown {
  const body = (req as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null) return null;
  const { username, email } = body as { username?: unknown; email?: unknown };
  return username ?? email ?? null;
}
