/**
 * The Express adapter: one middleware over the framework-neutral tracker (./tracker.ts). It
 * does not depend on Express (its types are structural), so it works with Express 4 and 5
 * and with anything calling `(req, res, next)` on node:http objects.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createTracker, type IpwatchOptions, type IpwatchStats } from './tracker.ts';
import { EmitterOptionError } from './errors.ts';

export type { IpwatchOptions, IpwatchStats } from './tracker.ts';

/** What the middleware needs of Express's request: node's, plus `originalUrl` when routers rewrite `url`. */
export type ExpressLikeRequest = IncomingMessage & { originalUrl?: string };

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
  /**
   * Says this request is a failed login, with the username tried (left out: read by the
   * `login.username` hook, by default req.body.username or email). The event says login
   * 'failed' whatever the status. Call it before sending the response: once the response is
   * done the event is built and the call is a no-op (false). True when the mark landed.
   *
   * @example
   * app.post('/login', (req, res) => {
   *   if (!checkPassword(req.body.email, req.body.password)) {
   *     tracker.loginFailed(req, req.body.email);
   *     return res.status(200).render('login', { error: 'Wrong email or password' });
   *   }
   *   tracker.loginSucceeded(req, req.body.email);
   *   res.redirect('/');
   * });
   */
  loginFailed(req: Req, username?: string): boolean;
  /** Says this request is a successful login; as loginFailed. */
  loginSucceeded(req: Req, username?: string): boolean;
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
  const tracker = createTracker<Req>(options, 'ipwatch()');
  const middleware = function ipwatchMiddleware(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
    tracker.enter(req, res, req, next);
  } as IpwatchMiddleware<Req>;
  middleware.close = (timeoutMs?: number) => tracker.close(timeoutMs);
  middleware.stats = () => tracker.stats();
  middleware.allowUpgrade = (req, socket) => tracker.allowUpgrade(req, socket);
  middleware.loginFailed = (req, username) => tracker.loginFailed(req, username);
  middleware.loginSucceeded = (req, username) => tracker.loginSucceeded(req, username);
  middleware.limit = () => {
    if (!tracker.limitsMounted) throw new EmitterOptionError("tracker.limit() needs ipwatch({ rateLimiter, rateLimitAt: 'mounted' })");
    return function ipwatchLimit(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
      tracker.limit(req, res, next);
    };
  };
  return middleware;
}
