/**
 * The plain node:http adapter: wraps a request listener so that every request it serves is
 * recorded, exactly as the Express middleware records it (it is the same code underneath),
 * and blocks and rate limits are enforced before the listener runs (options blockMirror, rateLimiter).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ipwatch, type IpwatchOptions, type IpwatchStats } from './express.ts';

export interface IpwatchListener<Req extends IncomingMessage = IncomingMessage> {
  (req: Req, res: ServerResponse): void;
  /** Sends what is buffered (up to `timeoutMs`, default 5 s) and stops. Call it on shutdown. */
  close(timeoutMs?: number): Promise<void>;
  stats(): IpwatchStats;
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
  const tracker = ipwatch<Req>(options);
  const handler = ((req: Req, res: ServerResponse) => {
    tracker(req, res, (err?: unknown) => {
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
  return handler;
}
