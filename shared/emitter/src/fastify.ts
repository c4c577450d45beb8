/**
 * The Fastify adapter: a plugin over the framework-neutral tracker (./tracker.ts), written to
 * the conventions of `fastify-plugin` without depending on it or on Fastify (its types are
 * structural): it is not encapsulated, so it sees every route of the instance it is
 * registered on; enforcement runs in `onRequest`, limits at 'mounted' in `preHandler`
 * (after Fastify parsed the body, so the per-username login limit sees it); the event is
 * built once the response is done; `onClose` flushes what is buffered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createTracker, type IpwatchOptions, type IpwatchStats, type Tracker } from './tracker.ts';
import { PluginRegisteredTwiceError } from './errors.ts';

/** What the plugin needs of Fastify's request. */
export interface FastifyLikeRequest {
  raw: IncomingMessage;
  headers: IncomingMessage['headers'];
  method: string;
  url: string;
  body?: unknown;
}

/** What the plugin needs of Fastify's reply. */
export interface FastifyLikeReply {
  raw: ServerResponse;
  /** Hands the response over: ipwatch writes its 403/429 itself. */
  hijack(): unknown;
}

type HookDone = (err?: Error) => void;

/** What the plugin needs of a Fastify instance. */
export interface FastifyLikeInstance {
  hasDecorator(name: string): boolean;
  decorate(name: string, value: unknown): unknown;
  addHook(name: 'onRequest' | 'preHandler', hook: (request: never, reply: never, done: HookDone) => void): unknown;
  addHook(name: 'onClose', hook: (instance: never, done: HookDone) => void): unknown;
}

/** What `fastify.ipwatch` holds once the plugin is registered. */
export interface IpwatchFastifyDecoration {
  stats(): IpwatchStats;
  /** For WebSocket upgrades (server.on('upgrade')): answers a blocked client 403 and closes its socket (false); true to go on. */
  allowUpgrade: Tracker<unknown>['allowUpgrade'];
  /**
   * Says this request (Fastify's `request`) is a failed login, with the username tried (left
   * out: read by the `login.username` hook, by default request.body's username or email).
   * Call it before the reply is sent: afterwards it is a no-op (false). True when the mark landed.
   *
   * @example
   * app.post('/login', async (request, reply) => {
   *   if (!(await verify(request.body))) app.ipwatch.loginFailed(request, request.body.email);
   *   ...
   * });
   */
  loginFailed(request: FastifyLikeRequest, username?: string): boolean;
  /** Says this request is a successful login; as loginFailed. */
  loginSucceeded(request: FastifyLikeRequest, username?: string): boolean;
}

export type IpwatchFastifyOptions<Req extends FastifyLikeRequest = FastifyLikeRequest> = IpwatchOptions<Req>;

/** The name the plugin decorates the instance with: also how a second registration is detected. */
const DECORATOR = 'ipwatch';

/**
 * @example
 * import Fastify from 'fastify';
 * import { ipwatchFastify, createKafkaEventLog } from '@ipwatch/emitter';
 *
 * const app = Fastify({ trustProxy: false });
 * await app.register(ipwatchFastify, {
 *   log: createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'shop' }),
 *   app: 'shop',
 *   trustedProxies: ['10.0.0.0/8'],
 *   user: (request) => (request.user ? { id: String(request.user.id), authenticated: true } : null),
 * });
 * app.get('/', async () => 'hello');
 * await app.listen({ port: 3000 }); // app.close() flushes the events
 */
export function ipwatchFastify<Req extends FastifyLikeRequest = FastifyLikeRequest>(
  fastify: FastifyLikeInstance,
  options: IpwatchFastifyOptions<Req>,
  done: HookDone,
): void {
  if (fastify.hasDecorator(DECORATOR)) {
    done(new PluginRegisteredTwiceError('the ipwatch plugin is already registered on this Fastify instance: register it once, on the root instance (every request would otherwise be logged and limited twice)'));
    return;
  }
  let tracker: Tracker<Req>;
  try {
    tracker = createTracker<Req>(stripFastifyOptions(options), 'the ipwatch Fastify plugin');
  } catch (err) {
    done(err as Error);
    return;
  }
  fastify.decorate(DECORATOR, {
    stats: () => tracker.stats(),
    allowUpgrade: (req, socket) => tracker.allowUpgrade(req, socket),
    loginFailed: (request, username) => tracker.loginFailed((request as FastifyLikeRequest | undefined)?.raw as IncomingMessage, username),
    loginSucceeded: (request, username) => tracker.loginSucceeded((request as FastifyLikeRequest | undefined)?.raw as IncomingMessage, username),
  } satisfies IpwatchFastifyDecoration);
  fastify.addHook('onRequest', (request: Req, reply: FastifyLikeReply, next: HookDone) => {
    // A request ipwatch answers (blocked, limited) is hijacked: Fastify must not answer it again, and next() is never called.
    tracker.enter(request.raw, reply.raw, request, next as (err?: unknown) => void, () => reply.hijack());
  });
  if (tracker.limitsMounted) {
    fastify.addHook('preHandler', (request: Req, reply: FastifyLikeReply, next: HookDone) => {
      tracker.limit(request, reply.raw, next as (err?: unknown) => void, () => reply.hijack());
    });
  }
  fastify.addHook('onClose', (_instance: unknown, closed: HookDone) => {
    tracker.close().then(() => closed(), closed);
  });
  done();
}

/** Fastify passes its own register options (prefix, logLevel...) along with the plugin's: they are not ipwatch's. */
function stripFastifyOptions<T extends object>(options: T): T {
  if (options === null || typeof options !== 'object') return options;
  const { prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...rest } = options as T & { prefix?: unknown; logLevel?: unknown; logSerializers?: unknown };
  return rest as T;
}

// fastify-plugin's conventions, as symbols (no dependency): not encapsulated, named, and the Fastify versions it runs on.
Object.assign(ipwatchFastify, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@ipwatch/emitter',
  [Symbol.for('plugin-meta')]: { name: '@ipwatch/emitter', fastify: '4.x || 5.x' },
});
