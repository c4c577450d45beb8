/**
 * The framework-neutral tracker under every adapter (Express, node:http, Fastify): options
 * checked once, the recorder, the event buffers and the enforcer wired together. An adapter
 * only says when a request arrives (`enter`), where limits are mounted (`limit`), and how
 * the framework takes over a response that ipwatch answers itself (`takeOver`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventLog } from '@ipwatch/core/eventLog';
import { TOPICS } from '@ipwatch/core/topics';
import { createEventBuffer, type EventBuffer, type EventBufferOptions, type EventBufferStats } from './eventBuffer.ts';
import { createRequestRecorder, type RequestRecorderOptions, type RequestRecorderStats } from './requestEvent.ts';
import { EmitterOptionError, NoEventLogError } from './errors.ts';
import { objectWith } from './optionChecks.ts';
import { createEnforcer, type BlockedResponseOptions, type EnforcerStats } from './enforcement.ts';
import type { BlockMirror } from './blockMirror/blockMirror.ts';
import type { RateLimiter } from './rateLimit/rateLimiter.ts';
import { createRateLimitEventAggregator, type RateLimitEventAggregator } from './rateLimit/rateLimitEvents.ts';
import { withLimiterLoginRule, type LoginReportOptions } from './login.ts';

export interface IpwatchOptions<Req = IncomingMessage> extends Omit<RequestRecorderOptions<Req & IncomingMessage>, 'buffer' | 'user' | 'login' | 'optOut' | 'honourGpc'> {
  /** The event log to publish to (Kafka or in-process). The tracker creates its own buffer in front of it. */
  log?: EventLog;
  /** Or a buffer you created (and close) yourself. */
  buffer?: EventBuffer;
  /** Settings of the buffer created for `log`: bound, batch size, linger, retries. */
  bufferOptions?: Omit<EventBufferOptions, 'log' | 'topic'>;
  /** Topic of the events. Default TOPICS.requests. */
  topic?: string;
  /** Who made the request, read after the response (after your auth ran), with the request as your framework has it. Errors are caught and counted. */
  user?: RequestRecorderOptions<Req & IncomingMessage>['user'];
  /**
   * Per-user opt-out: asked when the response is done, after the `user` hook, with its answer
   * (`user` is null without one). true: the request's event is withheld, nothing personal
   * leaves the app (address `::`, no user id, login username, user agent, referer or path;
   * method, status, latency, bytes, host and the blocked, limited and login outcomes stay, so
   * the figures still add up); its rate-limit refusals too. Blocks, the allowlist and rate
   * limits apply to it exactly as to anyone else, on its real address. Must answer at once
   * (no Promise); a hook that throws counts as opted out, and in stats().optOutHookErrors.
   * Withheld visitors are not scored, so detection and auto-blocking do not see them.
   *
   * @example
   * ipwatch({
   *   log,
   *   user: (req) => (req.user ? { id: req.user.id, authenticated: true } : null),
   *   optOut: (req, user) => req.user?.settings.noTracking === true || req.cookies?.['no-tracking'] === '1',
   *   honourGpc: true,
   * });
   */
  optOut?: RequestRecorderOptions<Req & IncomingMessage>['optOut'];
  /**
   * Honour the Global Privacy Control signal: a request with the header `Sec-GPC: 1` is
   * opted out as if `optOut` said so. Default false. Any client can send it, so a client that
   * sends it is never scored by detection (blocks and rate limits still apply).
   *
   * @example
   * ipwatch({ log, honourGpc: true });
   */
  honourGpc?: boolean;
  /**
   * Login reporting: which requests are login attempts (paths, methods), which statuses are
   * a failure (default 400, 401, 403, 422; 2xx and 3xx are a success) and the username
   * tried, for the events' `login` and `loginUser` (see LoginReportOptions). `{}` takes
   * what a login is from the `rateLimiter`'s login rule. Off by default; the tracker's
   * `loginFailed(req)` / `loginSucceeded(req)` work either way.
   *
   * @example
   * ipwatch({ log, login: { paths: ['/login'], username: (req) => req.body?.email } });
   */
  login?: LoginReportOptions<Req & IncomingMessage> | false;
  /**
   * Blocks and the allowlist: a mirror of the shared lists (createBlockMirror). Blocked
   * clients get `blocked.status` (403) and never reach the app; their requests are still
   * logged, marked blocked. Allowlisted clients skip blocks and rate limits (but the
   * per-username login limit, unless `rules.login.allowlisted` is 'exempt'). You own the
   * mirror: close it after the tracker.
   *
   * With `anonymise` on, the lists are checked for the client's real address (manual blocks
   * of real IPs) and for its identity as events carry it, since detections and the blocks
   * they lead to name that identity: a block of 203.0.113.0 refuses every client a
   * /24-truncating app reports as 203.0.113.0, one of a `hash` pseudonym exactly the client
   * it stands for; an allow of an identity allows the clients behind it. The allowlist wins
   * over any block, on either. With anonymisation off, one lookup as ever.
   */
  blockMirror?: BlockMirror;
  /** The answer blocked clients get. */
  blocked?: BlockedResponseOptions;
  /** Rate limits (createRateLimiter). You own it: close it after the tracker. */
  rateLimiter?: RateLimiter;
  /**
   * Where limits are checked: 'entry' (default) when the request arrives, for every route;
   * 'mounted' after your auth and body parser (Express: where you mount `tracker.limit()`;
   * Fastify: its preHandler hook), so the authenticated class and the per-username login
   * limit know the user; the per-IP login limit still counts on arrival.
   */
  rateLimitAt?: 'entry' | 'mounted';
}

/** Every option name, so a misspelt one is refused at start instead of silently ignored. */
const OPTION_NAMES: ReadonlySet<string> = new Set([
  'log', 'buffer', 'bufferOptions', 'topic', 'blockMirror', 'blocked', 'rateLimiter', 'rateLimitAt',
  'app', 'instance', 'trustedProxies', 'trustedHops', 'forwardedHeader', 'clientIp', 'anonymise', 'user',
  'maxPathLength', 'maxHeaderLength', 'countStreamedBytes', 'login', 'optOut', 'honourGpc',
]);

export interface IpwatchStats extends EventBufferStats, RequestRecorderStats, EnforcerStats {
  /** Rate-limit events: refusals folded into events, and refusals dropped under a flood of distinct keys. */
  rateLimitEvents: { folded: number; dropped: number } | null;
}

export type Next = (err?: unknown) => void;

export interface Tracker<Req> {
  /**
   * A request arrived: starts recording it, then answers it if it is blocked (or limited,
   * with limits at entry), else calls next(). `takeOver` runs just before ipwatch writes an
   * answer itself (Fastify: reply.hijack()).
   */
  enter(raw: IncomingMessage, res: ServerResponse, appReq: Req, next: Next, takeOver?: () => void): void;
  /** Limits where they are mounted (rateLimitAt 'mounted'); next() when the request may go on. */
  limit(appReq: Req, res: ServerResponse, next: Next, takeOver?: () => void): void;
  /** True when limits are checked where mounted. */
  readonly limitsMounted: boolean;
  /** For WebSocket upgrades: answers a blocked client 403 and closes its socket (false); true to go on. */
  allowUpgrade(req: IncomingMessage, socket: Duplex): boolean;
  /**
   * Marks the request (node's: Fastify's request.raw) as a failed login, with
   * the username tried (undefined: read by the `login.username` hook, by default req.body's
   * username or email, when the response is done). Its event says login 'failed' whatever
   * the status. Call it before the response is sent: once the response is done the event is
   * built, and a call is a no-op that returns false. True when the mark landed.
   */
  loginFailed(req: IncomingMessage, username?: string): boolean;
  /** Marks the request as a successful login; as loginFailed. */
  loginSucceeded(req: IncomingMessage, username?: string): boolean;
  /** Sends what is buffered (up to `timeoutMs`, default 5 s) and stops. */
  close(timeoutMs?: number): Promise<void>;
  stats(): IpwatchStats;
}

function checkOptionNames(options: object, adapter: string): void {
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      const near = [...OPTION_NAMES].find((known) => known.toLowerCase().startsWith(name.toLowerCase().slice(0, 5)));
      throw new EmitterOptionError(`${adapter}: unknown option ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}; the README's "Using the emitter" lists them all`);
    }
  }
}

/**
 * Checks the options (a bad one throws a coded error here, at start, never per request) and
 * wires the parts. `adapter` names the function the user called, for messages.
 */
export function createTracker<Req>(options: IpwatchOptions<Req>, adapter: string): Tracker<Req> {
  if (options === null || typeof options !== 'object') throw new NoEventLogError(`${adapter} needs options: at least { log } (createKafkaEventLog({ brokers, clientId }))`);
  checkOptionNames(options, adapter);
  const { log, buffer: givenBuffer, bufferOptions, topic = TOPICS.requests, blockMirror, blocked, rateLimiter, rateLimitAt, ...recorderOptions } = options;
  if (log === undefined && givenBuffer === undefined) {
    throw new NoEventLogError(
      `${adapter} has nowhere to send events: pass \`log\`, e.g. createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'my-app' }) from @ipwatch/emitter (or \`buffer\`, from createEventBuffer)`,
    );
  }
  if (log !== undefined && givenBuffer !== undefined) throw new EmitterOptionError(`${adapter} takes one of \`log\` or \`buffer\`, not both`);
  if (log !== undefined) objectWith(`${adapter}: log`, log, 'produce', 'an EventLog (createKafkaEventLog or createMemoryEventLog)');
  if (topic !== undefined && (typeof topic !== 'string' || topic === '')) throw new EmitterOptionError(`${adapter}: topic must be a topic name, not ${JSON.stringify(topic)}`);
  if (blockMirror !== undefined) objectWith(`${adapter}: blockMirror`, blockMirror, 'check', 'a mirror from createBlockMirror()');
  if (rateLimiter !== undefined) objectWith(`${adapter}: rateLimiter`, rateLimiter, 'check', 'a limiter from createRateLimiter()');

  type RawReq = Req & IncomingMessage;
  const ownsBuffer = givenBuffer === undefined;
  const buffer = givenBuffer ?? createEventBuffer({ ...bufferOptions, log: log!, topic });
  // `login: {}` (or without a username hook) takes what a login is from the rate limiter's login rule.
  const login = withLimiterLoginRule(recorderOptions.login, rateLimiter?.loginRule);
  const recorder = createRequestRecorder<RawReq>({ ...recorderOptions, ...(login !== undefined && { login }), buffer });
  // Rate-limit events have a small buffer of their own, so a flood of refusals never crowds out request events.
  const eventsBuffer = rateLimiter && log ? createEventBuffer({ ...bufferOptions, log, topic: TOPICS.rateLimit }) : null;
  const events: RateLimitEventAggregator | undefined = eventsBuffer ? createRateLimitEventAggregator({ buffer: eventsBuffer, app: recorderOptions.app ?? '' }) : undefined;
  const enforcer =
    blockMirror || rateLimiter
      ? createEnforcer<RawReq>({
          ...(blockMirror && { mirror: blockMirror }),
          ...(rateLimiter && { limiter: rateLimiter }),
          ...(events && { events }),
          ...(rateLimitAt && { limitAt: rateLimitAt }),
          ...(blocked && { blocked }),
          ...(recorderOptions.user && { user: recorder.userOf }),
          ...((recorderOptions.optOut !== undefined || recorderOptions.honourGpc === true) && { optsOut: recorder.optsOut }),
          ...(recorder.anonymises && { identityOf: recorder.identityOf }),
        })
      : null;
  if (rateLimiter?.readsRequestBody && rateLimitAt !== 'mounted') {
    // At entry no body parser has run: the per-username login limit would never apply, silently.
    process.emitWarning(
      `ipwatch: the login rule counts per username, read from the request body, but limits are checked at entry, before any body parser: only the per-IP login limit applies. Use rateLimitAt: 'mounted' (Express: app.use(tracker.limit()) after your body parser; Fastify: automatic, in preHandler).`,
      { code: 'IPWATCH_LOGIN_LIMIT_AT_ENTRY' },
    );
  }
  const limitsMounted = enforcer?.limitAt === 'mounted';
  const markLogin = (req: IncomingMessage, outcome: 'failed' | 'succeeded', username: unknown): boolean => recorder.observedOf(req)?.markLogin(outcome, username) ?? false;

  return {
    limitsMounted,
    enter(raw, res, appReq, next, takeOver) {
      const observed = recorder.observe(raw, res, appReq as RawReq); // never throws
      if (enforcer === null) return next();
      enforcer.atEntry(appReq as RawReq, res, observed, next, takeOver);
    },
    limit(appReq, res, next, takeOver) {
      if (enforcer === null || !limitsMounted) return next();
      // res.req: node's own request behind the app's (Fastify's request is another object).
      enforcer.limit(appReq as RawReq, res, recorder.observedOf(res.req ?? appReq), next, takeOver);
    },
    loginFailed: (req, username) => markLogin(req, 'failed', username),
    loginSucceeded: (req, username) => markLogin(req, 'succeeded', username),
    allowUpgrade(req, socket) {
      if (enforcer === null || !enforcer.blocks(recorder.clientIpOf(req))) return true;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return false;
    },
    async close(timeoutMs) {
      await events?.close();
      await eventsBuffer?.close(timeoutMs);
      // A buffer passed in belongs to the caller: flush it, leave closing to its owner.
      if (ownsBuffer) await buffer.close(timeoutMs);
      else await buffer.flush(timeoutMs);
    },
    stats: () => ({
      ...buffer.stats(),
      ...recorder.stats(),
      ...(enforcer?.stats() ?? { blocked: 0, allowlisted: 0, rateLimited: 0, enforcementErrors: 0 }),
      rateLimitEvents: events ? { folded: events.stats().folded, dropped: events.stats().dropped } : null,
    }),
  };
}
