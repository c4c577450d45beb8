/**
 * The Express adapter: one middleware that records every request as a RequestEvent. It
 * does not depend on Express (its types are structural), so it works with Express 4 and 5
 * and with anything calling `(req, res, next)` on node:http objects.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventLog } from '@ipwatch/core/eventLog';
import { TOPICS } from '@ipwatch/core/topics';
import { createEventBuffer, type EventBuffer, type EventBufferOptions, type EventBufferStats } from './eventBuffer.ts';
import { createRequestRecorder, type RequestRecorderOptions, type RequestRecorderStats } from './requestEvent.ts';
import { EmitterOptionError } from './errors.ts';
import { createEnforcer, type BlockedResponseOptions, type EnforcerStats } from './enforcement.ts';
import type { ObservedRequest } from './requestEvent.ts';
import type { BlockMirror } from './blockMirror/blockMirror.ts';
import type { RateLimiter } from './rateLimit/rateLimiter.ts';
import { createRateLimitEventAggregator, type RateLimitEventAggregator } from './rateLimit/rateLimitEvents.ts';

/** What the middleware needs of Express's request: node's, plus `originalUrl` when routers rewrite `url`. */
export type ExpressLikeRequest = IncomingMessage & { originalUrl?: string };

export interface IpwatchOptions<Req extends ExpressLikeRequest = ExpressLikeRequest> extends Omit<RequestRecorderOptions<Req>, 'buffer'> {
  /** The event log to publish to (Kafka or in-process). The middleware creates its own buffer in front of it. */
  log?: EventLog;
  /** Or a buffer you created (and close) yourself. */
  buffer?: EventBuffer;
  /** Settings of the buffer created for `log`: bound, batch size, linger, retries. */
  bufferOptions?: Omit<EventBufferOptions, 'log' | 'topic'>;
  /** Topic of the events. Default TOPICS.requests. */
  topic?: string;
  /**
   * Blocks and the allowlist: a mirror of the shared lists (createBlockMirror). Blocked
   * clients get `blocked.status` (403) and never reach the app; their requests are still
   * logged, marked blocked. Allowlisted clients skip blocks and rate limits. You own the
   * mirror: close it after the middleware.
   */
  blockMirror?: BlockMirror;
  /** The answer blocked clients get. */
  blocked?: BlockedResponseOptions;
  /** Rate limits (createRateLimiter). You own it: close it after the middleware. */
  rateLimiter?: RateLimiter;
  /**
   * Where limits are checked: 'entry' (default) in this middleware, for every route;
   * 'mounted' where you mount `tracker.limit()`, after your auth and body parser, so the
   * authenticated class and the per-username login limit know the user.
   */
  rateLimitAt?: 'entry' | 'mounted';
}

export interface IpwatchStats extends EventBufferStats, RequestRecorderStats, EnforcerStats {
  /** Rate-limit events: refusals folded into events, and refusals dropped under a flood of distinct keys. */
  rateLimitEvents: { folded: number; dropped: number } | null;
}

export interface IpwatchMiddleware<Req extends ExpressLikeRequest = ExpressLikeRequest> {
  (req: Req, res: ServerResponse, next: (err?: unknown) => void): void;
  /** Sends what is buffered (up to `timeoutMs`, default 5 s) and stops. Call it on shutdown. */
  close(timeoutMs?: number): Promise<void>;
  /** Counters: events buffered, sent, dropped (by reason), produce failures, hook errors, blocked, limited. */
  stats(): IpwatchStats;
  /**
   * For WebSocket upgrades, which never pass through middleware: answers a blocked client 403
   * and closes its socket, returning false; true to go on with the upgrade.
   *
   * @example
   * server.on('upgrade', (req, socket, head) => {
   *   if (tracker.allowUpgrade(req, socket)) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
   * });
   */
  allowUpgrade(req: IncomingMessage, socket: Duplex): boolean;
  /** The rate limiter as a middleware of its own, for `rateLimitAt: 'mounted'` (after auth and body parsing). */
  limit(): (req: Req, res: ServerResponse, next: (err?: unknown) => void) => void;
}

/**
 * The ipwatch Express middleware. Mount it first, so it sees every request, including those
 * other middleware answer. Options are validated here, once; a bad one throws an
 * EmitterOptionError. Per request it only reads what it needs and registers two listeners;
 * the event is built after the response is done and published in the background, so a slow
 * or missing Kafka never slows or breaks a request (events are buffered, then dropped and
 * counted).
 *
 * @example
 * import express from 'express';
 * import { ipwatch } from '@ipwatch/emitter';
 * import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
 *
 * const tracker = ipwatch({
 *   log: createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'shop' }),
 *   app: 'shop',
 *   trustedProxies: ['10.0.0.0/8'],
 *   anonymise: { mode: 'truncate' },
 *   user: (req) => (req.user ? { id: String(req.user.id), authenticated: true } : undefined),
 * });
 * const app = express();
 * app.use(tracker);
 * app.get('/', (req, res) => res.send('hello'));
 * process.on('SIGTERM', () => tracker.close());
 */
export function ipwatch<Req extends ExpressLikeRequest = ExpressLikeRequest>(options: IpwatchOptions<Req>): IpwatchMiddleware<Req> {
  const {
    log,
    buffer: givenBuffer,
    bufferOptions,
    topic = TOPICS.requests,
    blockMirror,
    blocked,
    rateLimiter,
    rateLimitAt,
    ...recorderOptions
  } = options ?? ({} as IpwatchOptions<Req>);
  if ((log === undefined) === (givenBuffer === undefined)) {
    throw new EmitterOptionError('ipwatch() needs exactly one of `log` (an EventLog: Kafka or in-process) or `buffer` (from createEventBuffer)');
  }
  const ownsBuffer = givenBuffer === undefined;
  const buffer = givenBuffer ?? createEventBuffer({ ...bufferOptions, log: log!, topic });
  const recorder = createRequestRecorder<Req>({ ...recorderOptions, buffer });
  // Rate-limit events have a small buffer of their own, so a flood of refusals never crowds out request events.
  const eventsBuffer = rateLimiter && log ? createEventBuffer({ ...bufferOptions, log, topic: TOPICS.rateLimit }) : null;
  const events: RateLimitEventAggregator | undefined = eventsBuffer ? createRateLimitEventAggregator({ buffer: eventsBuffer, app: recorderOptions.app ?? '' }) : undefined;
  const enforcer =
    blockMirror || rateLimiter
      ? createEnforcer<Req>({
          ...(blockMirror && { mirror: blockMirror }),
          ...(rateLimiter && { limiter: rateLimiter }),
          ...(events && { events }),
          ...(rateLimitAt && { limitAt: rateLimitAt }),
          ...(blocked && { blocked }),
          ...(recorderOptions.user && { user: recorder.userOf }),
        })
      : null;
  if (rateLimiter?.readsRequestBody && rateLimitAt !== 'mounted') {
    // At entry no body parser has run: the per-username login limit would never apply, silently.
    process.emitWarning(
      "ipwatch: the login rule counts per username, read from the request body, but limits are checked at entry, before any body parser: only the per-IP login limit applies. Use rateLimitAt: 'mounted' and app.use(tracker.limit()) after your body parser.",
      { code: 'IPWATCH_LOGIN_LIMIT_AT_ENTRY' },
    );
  }
  // Only for 'mounted' limits: how tracker.limit() finds the request ipwatch is watching.
  const observedByReq = enforcer?.limitAt === 'mounted' ? new WeakMap<Req, ObservedRequest>() : null;

  const middleware = function ipwatchMiddleware(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
    const observed = recorder.observe(req, res); // never throws
    if (enforcer === null) return next();
    if (observedByReq !== null && observed !== undefined) observedByReq.set(req, observed);
    enforcer.atEntry(req, res, observed, next);
  } as IpwatchMiddleware<Req>;
  middleware.close = async (timeoutMs?: number) => {
    await events?.close();
    await eventsBuffer?.close(timeoutMs);
    // A buffer passed in belongs to the caller: flush it, leave closing to its owner.
    if (ownsBuffer) await buffer.close(timeoutMs);
    else await buffer.flush(timeoutMs);
  };
  middleware.stats = () => ({
    ...buffer.stats(),
    ...recorder.stats(),
    ...(enforcer?.stats() ?? { blocked: 0, allowlisted: 0, rateLimited: 0, enforcementErrors: 0 }),
    rateLimitEvents: events ? { folded: events.stats().folded, dropped: events.stats().dropped } : null,
  });
  middleware.allowUpgrade = (req, socket) => {
    if (enforcer === null || !enforcer.blocks(recorder.clientIpOf(req))) return true;
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return false;
  };
  middleware.limit = () => {
    if (enforcer === null || enforcer.limitAt !== 'mounted' || observedByReq === null) {
      throw new EmitterOptionError("tracker.limit() needs ipwatch({ rateLimiter, rateLimitAt: 'mounted' })");
    }
    return function ipwatchLimit(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
      enforcer.limit(req, res, observedByReq.get(req), next);
    };
  };
  return middleware;
}
