/**
 * The plain node:http adapter: wraps a request listener so that every request it serves is
 * recorded, exactly as the Express middleware records it (the same tracker underneath),
 * and blocks and rate limits are enforced before the listener runs (options blockMirror, rateLimiter).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { EmitterOptionError } from './errors.ts';
import { createTracker, type IpwatchOptions, type IpwatchStats } from './tracker.ts';

export interface IpwatchListener<Req extends IncomingMessage = IncomingMessage> {
  (req: Req, res: ServerResponse): void;
  /** Sends what is buffered (up to `timeoutMs`, default 5 s) and stops. Call it on shutdown. */
  close(timeoutMs?: number): Promise<void>;
  stats(): IpwatchStats;
  /** For WebSocket upgrades (server.on('upgrade')): answers a blocked client 403 and closes its socket (false); true to go on. */
  allowUpgrade(req: IncomingMessage, socket: Duplex): boolean;
  /**
   * Says this request is a failed login, with the username tried (left out: read by the
   * `login.username` hook). Call it before ending the response: afterwards it is a no-op
   * (false). True when the mark landed.
   *
   * @example
   * const handler = withIpwatch(async (req, res) => {
   *   const { user, password } = await readForm(req);
   *   if (!(await verify(user, password))) handler.loginFailed(req, user);
   *   ...
   * }, { log });
   */
  loginFailed(req: Req, username?: string): boolean;
  /** Says this request is a successful login; as loginFailed. */
  loginSucceeded(req: Req, username?: string): boolean;
}

/**
 * @example
 * import { createServer } from 'node:http';
 * import { withIpwatch } from '@ipwatch/emitter';
 *
 * const handler = withIpwatch((req, res) => res.end('hello'), { log, app: 'api', trustedProxies: ['10.0.0.0/8'] });
 * createServer(handler).listen(8080);
 * process.on('SIGTERM', () => handler.close());
 */
export function withIpwatch<Req extends IncomingMessage = IncomingMessage>(
  listener: (req: Req, res: ServerResponse) => void,
  options: IpwatchOptions<Req>,
): IpwatchListener<Req> {
  const tracker = createTracker<Req>(options, 'withIpwatch()');
  if (typeof listener !== 'function') throw new EmitterOptionError('withIpwatch(listener, options): listener must be your (req, res) => void request handler');
  const handler = ((req: Req, res: ServerResponse) => {
    tracker.enter(req, res, req, (err?: unknown) => {
      if (err === undefined) return listener(req, res);
      // Your listener threw after an asynchronous rate-limit check: answer 500 rather than run it twice.
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
      process.emitWarning(`ipwatch: the request listener threw: ${(err as Error)?.stack ?? String(err)}`);
    });
  }) as IpwatchListener<Req>;
  handler.close = (timeoutMs) => tracker.close(timeoutMs);
  handler.stats = () => tracker.stats();
  handler.allowUpgrade = (req, socket) => tracker.allowUpgrade(req, socket);
  handler.loginFailed = (req, username) => tracker.loginFailed(req, username);
  handler.loginSucceeded = (req, username) => tracker.loginSucceeded(req, username);
  return handler;
}
