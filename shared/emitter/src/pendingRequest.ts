/**
 * One request the recorder watches (requestEvent.ts): what enforcement reads and marks on it
 * while it runs, its client address resolved and anonymised once, and the body bytes counted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoginOutcome } from '@ipwatch/core/schemas';
import type { ClientIpResolver } from './clientIp.ts';
import type { IpAnonymiser } from './anonymise.ts';
import { loginUserOf } from './login.ts';

/** A request being watched: what enforcement (blocks, rate limits) needs to know and to say about it. */
export interface ObservedRequest {
  /** The client's canonical IP (before anonymisation), resolved once behind the trusted proxies. */
  clientIp(): string;
  /** The IP as it leaves the app, in this request's event (anonymised as configured). */
  eventIp(): string;
  /** The block mirror answered this request: its event says blocked. */
  markBlocked(): void;
  /** A rate limit answered this request: its event says rateLimited. */
  markRateLimited(): void;
  /**
   * The app says this request was a login attempt that failed or succeeded, with the username
   * tried (undefined: read by the login `username` hook when the response is done). False
   * when the event is already built (the response is done): the call changed nothing.
   */
  markLogin(outcome: 'failed' | 'succeeded', username?: unknown): boolean;
}

/**
 * One request being watched. A class, so every instance shares one hidden class. Its state
 * lives here and in a closure, never on `res`: every property added to a ServerResponse costs
 * the rest of the request (a symbol-keyed one even makes it a slow dictionary-mode object;
 * measured: +3 to +13 us per request).
 */
export class PendingRequest implements ObservedRequest {
  bytes = 0;
  done = false;
  blocked = false;
  rateLimited = false;
  /** Set by markLogin(); 'none' leaves it to the `login` option's paths. */
  login: LoginOutcome = 'none';
  /** The username markLogin() was given (checked); undefined: read it with the hook. */
  loginUser: string | null | undefined = undefined;
  /** The raw client IP, resolved on first use (by enforcement at arrival, or when the event is built). */
  ip: string | null = null;
  /** The anonymised IP, made on first use. */
  shownIp: string | null = null;
  /** The network sent beside a hash pseudonym (null: none), made on first use. */
  shownNetwork: string | null | undefined = undefined;
  /** Registered for both 'finish' and 'close'; the first one builds the event. */
  readonly onDone: () => void;
  /** The request watched before this one on the same socket, if it was still going (HTTP/1.1 pipelining): see observedOf(). */
  previous: PendingRequest | null = null;
  /** What observedOf() finds it by: the socket (the request itself without one). */
  watchKey: object | null = null;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The request as the app's framework knows it, for the `user` hook. */
    readonly appReq: unknown,
    readonly ts: number,
    readonly t0: number,
    readonly remoteAddress: string | undefined,
    readonly url: string | undefined,
    complete: (p: PendingRequest) => void,
    private readonly resolveIp: ClientIpResolver,
    private readonly anonymiser: IpAnonymiser,
  ) {
    // Assigned, not a class field or a named const: esbuild's keepNames (tsx) wraps every named
    // function it creates in __name(), an Object.defineProperty per request.
    this.onDone = () => {
      if (!this.done) complete(this);
    };
  }

  clientIp(): string {
    return (this.ip ??= this.resolveIp(this.remoteAddress, this.req.headers ?? {}).ip);
  }

  eventIp(): string {
    return (this.shownIp ??= this.anonymiser.anonymise(this.clientIp()));
  }

  eventNetwork(): string | null {
    if (this.shownNetwork === undefined) this.shownNetwork = this.anonymiser.network(this.clientIp());
    return this.shownNetwork;
  }

  markBlocked(): void {
    this.blocked = true;
  }

  markRateLimited(): void {
    this.rateLimited = true;
  }

  markLogin(outcome: 'failed' | 'succeeded', username?: unknown): boolean {
    if (this.done) return false;
    this.login = outcome;
    this.loginUser = username === undefined ? undefined : loginUserOf(username);
    return true;
  }
}

/** Body bytes of one write/end chunk; never throws (an odd chunk is the app's business, the count only a statistic). */
export function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    try {
      return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    } catch {
      return chunk.length;
    }
  }
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/** The body bytes of a finished response: what it declared, what was counted, or node's own figure. */
export function bodyBytes(method: string, status: number, res: ServerResponse, counted: number, counting: boolean, aborted: boolean): number {
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return 0;
  if (!aborted) {
    // What the response declared is what went on the wire, even when a compressor sits between us and it.
    const declared = res.getHeader('content-length');
    const n = typeof declared === 'number' ? declared : typeof declared === 'string' ? Number(declared) : NaN;
    if (Number.isSafeInteger(n) && n >= 0) return n;
  }
  if (counting) return Number.isSafeInteger(counted) ? counted : 0;
  // node's end(data) computes the length without setting the header: read it, best effort (0 if node changes)
  const computed = (res as { _contentLength?: unknown })._contentLength;
  return !aborted && typeof computed === 'number' && Number.isSafeInteger(computed) && computed >= 0 ? computed : 0;
}
