/**
 * One way to connect to Redis for every ipwatch part, with the settings that keep an app
 * serving when Redis is slow or gone: commands fail fast instead of queueing while
 * disconnected, each command has a deadline, and reconnection goes on in the background.
 */
import { Redis } from 'ioredis';

export interface RedisClientOptions {
  /** Name shown in CLIENT LIST, e.g. ipwatch-emitter. */
  name?: string;
  /** Deadline of one command, ms (default 250). A late answer is an error, never a hang. */
  commandTimeoutMs?: number;
  /** Send commands issued in the same tick as one pipeline (default true: fewer syscalls under load). */
  autoPipelining?: boolean;
}

/**
 * @example
 * const redis = createRedisClient('redis://127.0.0.1:6379', { name: 'ipwatch-blocksync' });
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const client = new Redis(url, {
    connectionName: options.name ?? 'ipwatch',
    // While disconnected, fail at once: the caller has a fallback, a queue would only grow.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 250,
    enableAutoPipelining: options.autoPipelining ?? true,
    // Reconnect forever, backing off to 1 s: Redis coming back must be noticed within about a second.
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
  });
  // Errors surface through the commands that fail and through 'end'/'reconnecting'; an
  // unhandled 'error' event would otherwise crash the process.
  client.on('error', () => {});
  return client;
}

export type { Redis };
