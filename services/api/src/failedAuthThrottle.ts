/**
 * Slows down token guessing: a client (an IPv4 address, an IPv6 /64) that sends a wrong token
 * `maxFailures` times within a window is refused, whatever it sends, until that window ends.
 * Memory is bounded: at most `maxClients` clients are tracked; while that many have failed
 * within their windows, every further client shares one overflow entry, so rotating
 * addresses locks the newcomers out together rather than evicting a locked-out client.
 */
import { formatIp, mask, parseIp } from '@ipwatch/core/ip';

export interface FailedAuthThrottleOptions {
  /** Wrong tokens a client may send within a window before it is refused. Default 10. */
  maxFailures?: number;
  /** Length of a window, from a client's first failure. Default 60 s. */
  windowMs?: number;
  /** Clients tracked at once; beyond that they share the overflow entry. Default 10,000. */
  maxClients?: number;
  now?: () => number;
}

export interface FailedAuthThrottle {
  /** How long the client must wait (ms); 0 when it may try. */
  retryAfterMs(client: string): number;
  /** Counts a wrong token from the client. */
  failed(client: string): void;
  /** Clients tracked now (the overflow entry not counted). */
  size(): number;
}

interface Window {
  start: number;
  failures: number;
}

/** The key a client's failures are counted under: IPv6 per /64, since one host holds a whole /64. */
export function clientKey(remoteAddress: string | undefined): string {
  const ip = parseIp(remoteAddress ?? '');
  if (ip === null) return 'unknown';
  if (ip.version === 4) return formatIp(ip);
  return `${formatIp({ version: 6, value: ip.value & mask(6, 64) })}/64`;
}

/**
 * @example
 * const throttle = createFailedAuthThrottle();
 * if (throttle.retryAfterMs(clientKey(req.socket.remoteAddress)) > 0) refuse429();
 * if (!tokenMatches) throttle.failed(clientKey(req.socket.remoteAddress));
 */
export function createFailedAuthThrottle(options: FailedAuthThrottleOptions = {}): FailedAuthThrottle {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const maxClients = options.maxClients ?? 10_000;
  const now = options.now ?? Date.now;
  // Insertion order is window-start order (a window is re-inserted only when it starts anew),
  // so the stale windows are always at the front: pruning stops at the first live one.
  const windows = new Map<string, Window>();
  let overflow: Window | null = null;
  const live = (w: Window | null | undefined, t: number): w is Window => w !== null && w !== undefined && t < w.start + windowMs;

  function prune(t: number): void {
    for (const [key, w] of windows) {
      if (live(w, t)) break;
      windows.delete(key);
    }
    if (!live(overflow, t)) overflow = null;
  }

  /** The window a client counts in: its own, or the overflow one while the table is full. */
  function windowOf(client: string, t: number): Window | null {
    prune(t);
    return windows.get(client) ?? (windows.size >= maxClients ? overflow : null);
  }

  return {
    retryAfterMs(client) {
      const t = now();
      const w = windowOf(client, t);
      return w !== null && w.failures >= maxFailures ? w.start + windowMs - t : 0;
    },
    failed(client) {
      const t = now();
      const w = windowOf(client, t);
      if (w !== null) {
        w.failures += 1;
      } else if (windows.size < maxClients) {
        windows.set(client, { start: t, failures: 1 });
      } else {
        overflow = { start: t, failures: 1 };
      }
    },
    size: () => windows.size,
  };
}
