/**
 * The framework-neutral core of the emitter: watches one node:http request/response pair and,
 * when the response is done (or the client went away), builds a RequestEvent, encodes it
 * and pushes it to the event buffer. Express, node:http, Fastify and Koa adapters all call
 * `observe(req, res)`; nothing here awaits, and nothing here throws into the request.
 *
 * Everything read from the request is hostile: every string goes through ./sanitize.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { LoginOutcome, RequestEvent } from '@ipwatch/core/schemas';
import { WITHHELD_IP, withholdPersonal } from '@ipwatch/core/privacy';
import { sanitizeHeaderValue, sanitizePath, normaliseMethod } from './sanitize.ts';
import { encodeRequestEvent, MESSAGE_HEADERS } from './requestEventCodec.ts';
import { createClientIpResolver, type ClientIpResolver, type ForwardedHeader } from './clientIp.ts';
import { createIpAnonymiser, type IpAnonymiser, type IpAnonymiserOptions } from './anonymise.ts';
import type { EventBuffer } from './eventBuffer.ts';
import { EmitterOptionError } from './errors.ts';
import { objectWith, optionalFunction, trueOrFalse, wholeNumber } from './optionChecks.ts';
import { compileLoginReport, defaultUsernameOf, loginUserOf, type LoginReportOptions } from './login.ts';
import { PendingRequest, bodyBytes, chunkBytes, type ObservedRequest } from './pendingRequest.ts';

export type { ObservedRequest } from './pendingRequest.ts';

/** Who made the request, as the app's `user` hook reports it. */
export interface RequestUser {
  id: string | null;
  authenticated: boolean;
}

export interface RequestRecorderOptions<Req extends IncomingMessage = IncomingMessage> {
  /** Where encoded events go (see createEventBuffer). */
  buffer: EventBuffer;
  /** Name of the app, on every event. Default ''. */
  app?: string;
  /** This process, on every event. Default `${hostname}:${pid}`. */
  instance?: string;
  /** Your proxies' addresses or CIDRs (see createClientIpResolver). Default: trust nobody. */
  trustedProxies?: string[];
  /** Or: how many proxy hops to trust. */
  trustedHops?: number;
  /** Which forwarding header your proxies set. Default 'x-forwarded-for' (see ClientIpOptions.header). */
  forwardedHeader?: ForwardedHeader;
  /** A resolver of your own instead of trustedProxies/trustedHops. */
  clientIp?: ClientIpResolver;
  /**
   * IP anonymisation; default `{ mode: 'off' }`. Events then carry an identity (a truncated
   * network, or a keyed pseudonym) instead of the address, so detections and blocks name
   * that identity; the tracker's enforcement checks the lists for it too (see `blockMirror`).
   */
  anonymise?: IpAnonymiserOptions;
  /** Who the user is, read when the response is done (after your auth ran). Errors are caught and counted. */
  user?: (req: Req) => RequestUser | null | undefined;
  /**
   * Per-user opt-out, asked when the response is done, after the `user` hook (with its
   * answer): true withholds the request's event (nothing personal leaves the app: see
   * withholdPersonal in @ipwatch/core/privacy); enforcement is unchanged. A hook that throws,
   * or answers anything but true, false, null or undefined (a Promise: the hook must be
   * synchronous), counts as opted out, and in stats().optOutHookErrors.
   */
  optOut?: (req: Req, user: RequestUser | null) => boolean;
  /** Honour the Global Privacy Control signal: a request with `Sec-GPC: 1` is opted out. Default false. */
  honourGpc?: boolean;
  /** Which requests are login attempts, and how each ended, for the events' `login` and `loginUser` (see LoginReportOptions). Default: none, except those marked with loginFailed()/loginSucceeded(). */
  login?: LoginReportOptions<Req> | false;
  /** Longest path (with query) kept, in UTF-16 units, cut on a code-point boundary. Default 2048. */
  maxPathLength?: number;
  /** Longest user agent, referer, host and user id kept. Default 1024. */
  maxHeaderLength?: number;
  /**
   * Count the body bytes of responses that declare no length (streams, chunked, compressed)
   * by wrapping res.write/res.end. Default false: `bytes` is the declared Content-Length
   * (Express's send/json/sendFile, static files, node's own end(data)), else 0. Off by
   * default because any property stored on a ServerResponse costs the whole request
   * (measured: ~8 us per request on a hello-world app, 6% of its throughput).
   */
  countStreamedBytes?: boolean;
}

export interface RequestRecorderStats {
  /** Events built and handed to the buffer (accepted or dropped there). */
  recorded: number;
  /** Times the `user` hook threw or returned something unusable. */
  userHookErrors: number;
  /** Requests whose event could not be built or encoded (a bug: the request itself was unaffected). */
  emitErrors: number;
  /** Times the login `failed` or `username` hook threw (the attempt was reported as 'none', or without its username). */
  loginHookErrors: number;
  /** Events sent withheld (nothing personal in them): the `optOut` hook said so, or Sec-GPC: 1 with honourGpc. */
  withheld: number;
  /** Times the `optOut` hook threw or answered something unusable (each such request counted as opted out). */
  optOutHookErrors: number;
}


export interface RequestRecorder<Req extends IncomingMessage = IncomingMessage> {
  /**
   * Starts watching a request; call it when the request arrives. `appReq` is the request as
   * the app's framework hands it to hooks (Fastify's request; by default `req` itself): the
   * `user` hook is called with it. Never throws; undefined if it could not watch.
   */
  observe(req: IncomingMessage, res: ServerResponse, appReq?: Req): ObservedRequest | undefined;
  /** The `user` hook's answer for a request, checked and bounded as events carry it (null: none, or the hook failed, counted). */
  userOf(req: Req): RequestUser | null;
  /**
   * Whether this request's visitor opted out, as its event will say: Sec-GPC: 1 (`headers`:
   * node's request's, with honourGpc), or the `optOut` hook given `user` (a throwing hook:
   * opted out, counted). For what else leaves the app about it (rate-limit refusals).
   */
  optsOut(req: Req, headers: IncomingHttpHeaders, user: RequestUser | null): boolean;
  /** The client's canonical IP as this recorder resolves it (trusted proxies applied), for requests it does not observe (upgrades). */
  clientIpOf(req: IncomingMessage): string;
  /**
   * The watched request of this node request (the `req` given to observe()), until its
   * event is built; undefined for a request it does not watch, or no longer.
   */
  observedOf(req: IncomingMessage): ObservedRequest | undefined;
  /** True when events carry an identity other than the address (anonymise mode 'truncate' or 'hash'). */
  readonly anonymises: boolean;
  /** A client's identity as events carry it: the address anonymised as configured (cached by the anonymiser). */
  identityOf(ip: string): string;
  stats(): RequestRecorderStats;
}


/**
 * Builds the recorder once (options validated, IP rules compiled, anonymiser keyed); then
 * `observe(req, res)` per request. On the response's 'finish' (or its 'close', for a client
 * that went away: status 499 when no response was sent), once per request, it builds the
 * RequestEvent, encodes it with codecs.RequestEvent and pushes it to the buffer with the
 * anonymised IP as key and the `ipwatch-schema: RequestEvent` header.
 *
 * @example
 * const buffer = createEventBuffer({ log, topic: TOPICS.requests });
 * const recorder = createRequestRecorder({ buffer, app: 'shop', trustedProxies: ['10.0.0.0/8'] });
 * http.createServer((req, res) => {
 *   recorder.observe(req, res);
 *   res.end('hello');
 * });
 */
export function createRequestRecorder<Req extends IncomingMessage = IncomingMessage>(options: RequestRecorderOptions<Req>): RequestRecorder<Req> {
  const { buffer, user, clientIp } = options ?? ({} as RequestRecorderOptions<Req>);
  objectWith('buffer', buffer, 'push', 'an EventBuffer (see createEventBuffer)');
  optionalFunction('user', user, '(req) => ({ id, authenticated }) or undefined');
  const maxPathLength = wholeNumber('maxPathLength', options.maxPathLength ?? 2048, 16, 65_536);
  const maxHeaderLength = wholeNumber('maxHeaderLength', options.maxHeaderLength ?? 1024, 16, 65_536);
  const countStreamedBytes = trueOrFalse('countStreamedBytes', options.countStreamedBytes ?? false);
  const optOut = optionalFunction('optOut', options.optOut, '(req, user) => true to withhold the request\'s event (synchronous)');
  const honourGpc = trueOrFalse('honourGpc', options.honourGpc ?? false);
  const app = options.app ?? '';
  if (typeof app !== 'string' || app.length > 256) throw new EmitterOptionError(`app must be a name of at most 256 characters, not ${JSON.stringify(app)}`);
  const instance = sanitizeHeaderValue(options.instance ?? `${hostname()}:${process.pid}`, 256);
  optionalFunction('clientIp', clientIp, '(remoteAddress, headers) => ({ ip, source })');
  if (clientIp !== undefined && (options.trustedProxies !== undefined || options.trustedHops !== undefined)) {
    throw new EmitterOptionError('clientIp replaces trustedProxies/trustedHops: give one or the other');
  }
  const resolveClientIp: ClientIpResolver =
    clientIp ??
    createClientIpResolver({
      ...(options.trustedProxies !== undefined && { trustedProxies: options.trustedProxies }),
      ...(options.trustedHops !== undefined && { trustedHops: options.trustedHops }),
      ...(options.forwardedHeader !== undefined && { header: options.forwardedHeader }),
    });
  const anonymiser: IpAnonymiser = createIpAnonymiser(options.anonymise ?? { mode: 'off' });
  const ipAnonymisation = anonymiser.mode;
  const loginReport = compileLoginReport(options.login);
  const usernameOf = loginReport?.usernameOf ?? defaultUsernameOf;

  let recorded = 0;
  let userHookErrors = 0;
  let emitErrors = 0;
  let loginHookErrors = 0;
  let withheld = 0;
  let optOutHookErrors = 0;
  /** The latest request watched on each socket, linked to the ones before it still going. */
  const watchedBySocket = new WeakMap<object, PendingRequest>();

  /** Takes a finished request out of its socket's chain now rather than at the socket's next request, so its objects can die young. */
  function unwatch(p: PendingRequest): void {
    const key = p.watchKey;
    if (key === null) return;
    const head = watchedBySocket.get(key);
    if (head === p) {
      // The common case: one request at a time on the socket.
      if (p.previous === null) watchedBySocket.delete(key);
      else watchedBySocket.set(key, p.previous);
    } else {
      for (let q = head ?? null; q !== null; q = q.previous) {
        if (q.previous === p) {
          q.previous = p.previous;
          break;
        }
      }
    }
    p.previous = null;
  }

  function observedOf(req: IncomingMessage): PendingRequest | undefined {
    if (typeof req !== 'object' || req === null) return undefined;
    for (let p = watchedBySocket.get(req.socket ?? req) ?? null; p !== null; p = p.previous) {
      if (p.req === req) return p;
    }
    return undefined;
  }

  function readUser(req: Req): RequestUser | null {
    if (user === undefined) return null;
    try {
      const u = user(req);
      if (u === undefined || u === null) return null;
      const id = u.id === null || u.id === undefined ? null : typeof u.id === 'string' ? sanitizeHeaderValue(u.id, maxHeaderLength) : undefined;
      if (id === undefined) {
        userHookErrors++;
        return null;
      }
      return { id, authenticated: u.authenticated === true };
    } catch {
      userHookErrors++;
      return null;
    }
  }

  function optsOut(appReq: Req, headers: IncomingHttpHeaders, u: RequestUser | null): boolean {
    if (honourGpc && sendsGpc(headers)) return true;
    if (optOut === undefined) return false;
    try {
      const answer: unknown = optOut(appReq, u);
      if (answer === true) return true;
      if (answer === false || answer === undefined || answer === null) return false;
    } catch {
      // fall through: a hook that cannot answer must not leak the visitor it was asked about
    }
    optOutHookErrors++;
    return true;
  }

  /** The username of a login attempt, as the hook reads it when the response is done. */
  function readLoginUser(appReq: unknown): string | null {
    try {
      return loginUserOf(usernameOf(appReq));
    } catch {
      loginHookErrors++;
      return null;
    }
  }

  /** How a login attempt ended by its status, when the `login` option's paths say it is one ('none' when the hook throws). */
  function outcomeOf(status: number): LoginOutcome {
    try {
      return loginReport!.outcomeOf(status);
    } catch {
      loginHookErrors++;
      return 'none';
    }
  }

  function complete(p: PendingRequest): void {
    p.done = true;
    unwatch(p);
    try {
      // 'close' without 'finish' first: the client went away before the response was done.
      const aborted = !p.res.writableFinished;
      const latencyMs = performance.now() - p.t0;
      const { req, res } = p;
      const headers = req.headers ?? {};
      const method = normaliseMethod(req.method);
      const rawStatus = aborted && !res.headersSent ? 499 : res.statusCode;
      const status = Number.isInteger(rawStatus) && rawStatus >= 0 && rawStatus <= 999 ? rawStatus : 0;
      const u = readUser(p.appReq as Req);
      const optedOut = optsOut(p.appReq as Req, headers, u);
      // An opted-out visitor's address is never anonymised (nor cached by the anonymiser) for its event.
      const ip = optedOut ? WITHHELD_IP : p.eventIp();
      // A mark from the app wins; else the paths decide, for requests the app saw (not blocked, not limited).
      let login = p.login;
      if (login === 'none' && loginReport !== null && !p.blocked && !p.rateLimited && loginReport.isLogin(req.method, p.url)) login = outcomeOf(status);
      const loginUser = login === 'none' ? null : p.loginUser !== undefined ? p.loginUser : readLoginUser(p.appReq);
      const event: RequestEvent = {
        id: randomUUID(),
        ts: p.ts,
        ip,
        ipAnonymisation,
        app,
        instance,
        method,
        host: sanitizeHeaderValue(headers.host, maxHeaderLength).toLowerCase(),
        path: sanitizePath(p.url, maxPathLength),
        status,
        latencyMs,
        bytes: bodyBytes(method, status, res, p.bytes, countStreamedBytes, aborted),
        userAgent: sanitizeHeaderValue(headers['user-agent'], maxHeaderLength),
        referer: sanitizeHeaderValue(headers.referer ?? headers.referrer, maxHeaderLength),
        userId: u === null ? null : u.id,
        authenticated: u === null ? false : u.authenticated,
        blocked: p.blocked,
        rateLimited: p.rateLimited,
        login,
        loginUser,
        network: optedOut ? null : p.eventNetwork(),
      };
      if (optedOut) {
        withholdPersonal(event);
        withheld++;
      }
      const value = encodeRequestEvent(event);
      recorded++;
      // Withheld events are keyed by their random id: spread over the partitions, naming nobody.
      buffer.push(optedOut ? event.id : ip, value, MESSAGE_HEADERS);
    } catch {
      emitErrors++;
    }
  }

  function observe(req: IncomingMessage, res: ServerResponse, appReq: Req = req as Req): ObservedRequest | undefined {
    try {
      const url = (req as { originalUrl?: unknown }).originalUrl ?? req.url;
      const p = new PendingRequest(
        req,
        res,
        appReq,
        Date.now(),
        // performance.now() reads the same monotonic clock as process.hrtime without allocating a BigInt.
        performance.now(),
        // read now: once the socket is gone its address may be too
        req.socket?.remoteAddress,
        typeof url === 'string' ? url : undefined,
        complete,
        resolveClientIp,
        anonymiser,
      );
      if (countStreamedBytes) {
        const write = res.write;
        const end = res.end;
        // Anonymous functions stored on a member: no per-request __name() under tsx (see PendingRequest).
        res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown): boolean {
          p.bytes += chunkBytes(chunk, encoding);
          return (write as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
        } as ServerResponse['write'];
        res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown): ServerResponse {
          if (typeof chunk !== 'function') p.bytes += chunkBytes(chunk, encoding);
          return (end as (...a: unknown[]) => ServerResponse).apply(this, arguments as unknown as unknown[]);
        } as ServerResponse['end'];
      }
      res.on('finish', p.onDone);
      res.on('close', p.onDone);
      // Findable from the request (observedOf) through its socket, a long-lived key: a WeakMap
      // keyed by each request would make every request an ephemeron key, which V8 keeps alive
      // across young-generation collections (measured: microseconds per request). complete() removes it.
      const key = req.socket ?? req;
      const previous = watchedBySocket.get(key);
      if (previous !== undefined) p.previous = previous; // still going: finished ones leave the chain
      p.watchKey = key;
      watchedBySocket.set(key, p);
      return p;
    } catch {
      emitErrors++;
      return undefined;
    }
  }

  return {
    observe,
    userOf: readUser,
    optsOut,
    clientIpOf: (req) => resolveClientIp(req.socket?.remoteAddress, req.headers ?? {}).ip,
    observedOf,
    anonymises: ipAnonymisation !== 'off',
    identityOf: (ip) => anonymiser.anonymise(ip),
    stats: () => ({ recorded, userHookErrors, emitErrors, loginHookErrors, withheld, optOutHookErrors }),
  };
}

/** The Global Privacy Control signal: `Sec-GPC: 1` (the only value the specification defines). */
function sendsGpc(headers: IncomingHttpHeaders): boolean {
  const value = headers['sec-gpc'];
  return typeof value === 'string' && value.trim() === '1';
}
