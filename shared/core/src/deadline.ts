/**
 * Waiting with a deadline, one way everywhere: for a promise (a group join, a test's
 * condition) or for the first of some events (a Redis client's first connection).
 *
 * @example
 * await withDeadline(joined, 60_000, 'consumer group enricher did not join within 60000 ms');
 * if ((await firstEvent(client, ['ready'], 5000)) === null) throw new Error('Redis not connected');
 */
import type { EventEmitter } from 'node:events';

/**
 * `p`, or a rejection with Error(message) once `ms` have passed; the timer is cleared
 * either way, so it never keeps the process up after `p` settled.
 */
export async function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Which of `events` `emitter` emits first, or null when none came within `ms`. Its
 * listeners are removed once it resolved.
 *
 * @example
 * const first = await firstEvent(client, ['ready', 'close'], 2000, { unref: true }); // 'ready' | 'close' | null
 */
export function firstEvent<E extends string>(emitter: EventEmitter, events: readonly E[], ms: number, options: { unref?: boolean } = {}): Promise<E | null> {
  return new Promise((resolve) => {
    const listeners = events.map((name) => [name, () => done(name)] as const);
    const done = (which: E | null): void => {
      clearTimeout(timer);
      for (const [name, listener] of listeners) emitter.off(name, listener);
      resolve(which);
    };
    const timer = setTimeout(() => done(null), ms);
    if (options.unref) timer.unref();
    for (const [name, listener] of listeners) emitter.once(name, listener);
  });
}
