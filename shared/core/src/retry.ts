/**
 * Waiting and retrying, one way for every loop that meets a failure: an exponential back-off,
 * sleeps that a stop (or new work) cuts short at once, and the loop that retries one failed
 * batch in place until it succeeds or its consumer stops (the event-log adapters' at-least-
 * once delivery: a batch is never skipped, and never committed before it was handled).
 *
 * @example
 * const stopping = new AbortController();
 * const handled = await retryInPlace(() => handle(batch), {
 *   signal: stopping.signal,
 *   onFailure: (err) => ++failures,            // counts, reports, returns failures in a row
 *   delayMs: (n) => backoffDelay(n, 100, 5000), // 100, 200, 400 ... 5000 ms
 * });
 */

/**
 * The wait after `failures` failures in a row: `minMs` after the first, doubling each time,
 * never more than `maxMs`.
 *
 * @example
 * backoffDelay(1, 100, 5000); // 100
 * backoffDelay(4, 100, 5000); // 800
 * backoffDelay(99, 100, 5000); // 5000
 */
export function backoffDelay(failures: number, minMs: number, maxMs: number): number {
  // The exponent is capped so that 2 ** n stays finite whatever the count.
  return Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
}

/**
 * A delay spread over its upper half (50-100%), rounded to whole ms: many processes that
 * failed together must not all retry in the same instant.
 *
 * @example
 * setTimeout(retry, withJitter(backoffDelay(failures, 100, 5000)));
 */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.5 + random() * 0.5));
}

export interface SleepOptions {
  /** Aborting it ends the sleep at once (an already aborted one: no sleep at all). */
  signal?: AbortSignal;
  /** Let the process exit during the sleep. Default false: whoever awaits the sleep keeps it up. */
  unref?: boolean;
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts. Never rejects: the caller checks why it
 * woke (its own stop flag, or `signal.aborted`).
 *
 * @example
 * await sleep(backoffDelay(failures, 100, 5000), { signal: stopping.signal });
 * if (stopping.signal.aborted) return;
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal, unref = false } = options;
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (unref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A sleep that can be woken again and again (new work, a link back, a stop), unlike a one-shot AbortSignal. */
export interface WakeableSleep {
  /**
   * Waits `ms` (without `ms`: until woken) or until `wake()`. One sleep at a time; a wake()
   * while nobody sleeps is not kept, so check for work before sleeping, in the same tick.
   */
  sleep(ms?: number): Promise<void>;
  /** Ends the sleep in progress, if any. */
  wake(): void;
}

/**
 * @example
 * const idle = createWakeableSleep();
 * while (running) {
 *   if (!work()) await idle.sleep(); // producer calls idle.wake() after appending
 * }
 */
export function createWakeableSleep(): WakeableSleep {
  let wakeUp: (() => void) | null = null;
  return {
    sleep(ms?: number): Promise<void> {
      return new Promise<void>((resolve) => {
        const timer = ms === undefined ? undefined : setTimeout(() => done(), ms);
        const done = (): void => {
          if (wakeUp === done) wakeUp = null;
          clearTimeout(timer);
          resolve();
        };
        wakeUp = done;
      });
    },
    wake(): void {
      const w = wakeUp;
      wakeUp = null;
      w?.();
    },
  };
}

export interface RetryInPlaceOptions {
  /** Stopping: no attempt after it aborts, and it cuts a back-off short. */
  signal: AbortSignal;
  /**
   * Told each failure; counts it (and reports it), and returns how many failures in a row
   * there have been, which the back-off grows with. It must not throw.
   */
  onFailure: (err: unknown) => number;
  /** The wait before the next attempt, from the failures in a row (see backoffDelay). */
  delayMs: (failures: number) => number;
  /**
   * After a back-off, before the next attempt: false gives up (the work is no longer ours,
   * say a partition lost in a rebalance); it may also throw, which rejects the retry.
   */
  beforeRetry?: () => boolean | Promise<boolean>;
}

/**
 * Runs `attempt` until it resolves (true), retrying the very same work after each failure with
 * a back-off; false when `signal` aborted or `beforeRetry` gave up first, the work then not done.
 *
 * @example
 * const done = await retryInPlace(async () => { await handle(batch); commit(); }, {
 *   signal: stopping.signal,
 *   onFailure: (err) => { options.onError?.(err); return ++failures; },
 *   delayMs: (n) => backoffDelay(n, 100, 5000),
 * });
 */
export async function retryInPlace(attempt: () => Promise<void>, options: RetryInPlaceOptions): Promise<boolean> {
  const { signal, onFailure, delayMs, beforeRetry } = options;
  for (;;) {
    try {
      await attempt();
      return true;
    } catch (err) {
      const failures = onFailure(err);
      if (signal.aborted) return false;
      await sleep(delayMs(failures), { signal });
      if (signal.aborted) return false;
      if (beforeRetry !== undefined && !(await beforeRetry())) return false;
    }
  }
}
