/**
 * The Express adapter: one middleware that records every request as a RequestEvent. It
 * does not depend on Express (its types are structural), so it works with Express 4 and 5
 * and with anything calling `(req, res, next)` on node:http objects.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventLog } from '@ipwatch/core/eventLog';
import { TOPICS } from '@ipwatch/core/topics';
import { createEventBuffer, type EventBuffer, type EventBufferOptions, type EventBufferStats } from './eventBuffer.ts';
import { createRequestRecorder, type RequestRecorderOptions, type RequestRecorderStats } from './requestEvent.ts';
import { EmitterOptionError } from './errors.ts';

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
}

export interface IpwatchStats extends EventBufferStats, RequestRecorderStats {}

export interface IpwatchMiddleware<Req extends ExpressLikeRequest = ExpressLikeRequest> {
  (req: Req, res: ServerResponse, next: (err?: unknown) => void): void;
  /** Sends what is buffered (up to `timeoutMs`, default 5 s) and stops. Call it on shutdown. */
  close(timeoutMs?: number): Promise<void>;
  /** Counters: events buffered, sent, dropped (by reason), produce failures, hook errors. */
  stats(): IpwatchStats;
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
  const { log, buffer: givenBuffer, bufferOptions, topic = TOPICS.requests, ...recorderOptions } = options ?? ({} as IpwatchOptions<Req>);
  if ((log === undefined) === (givenBuffer === undefined)) {
    throw new EmitterOptionError('ipwatch() needs exactly one of `log` (an EventLog: Kafka or in-process) or `buffer` (from createEventBuffer)');
  }
  const ownsBuffer = givenBuffer === undefined;
  const buffer = givenBuffer ?? createEventBuffer({ ...bufferOptions, log: log!, topic });
  const recorder = createRequestRecorder<Req>({ ...recorderOptions, buffer });

  const middleware = function ipwatchMiddleware(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
    recorder.observe(req, res); // never throws
    next();
  } as IpwatchMiddleware<Req>;
  middleware.close = async (timeoutMs?: number) => {
    // A buffer passed in belongs to the caller: flush it, leave closing to its owner.
    if (ownsBuffer) await buffer.close(timeoutMs);
    else await buffer.flush(timeoutMs);
  };
  middleware.stats = () => ({ ...buffer.stats(), ...recorder.stats() });
  return middleware;
}
