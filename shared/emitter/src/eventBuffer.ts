/**
 * A bounded buffer of encoded events in front of `EventLog.produce`. The request path only
 * pushes (never awaits, never throws); a background loop sends batches, one produce at a
 * time. When the log is slow or down the buffer keeps what it has (up to its bound) and
 * retries with back-off; beyond the bound new events are dropped and counted. Memory is
 * bounded by `maxEvents` whatever the log does.
 */
import type { EventLog, OutgoingMessage } from '@ipwatch/core/eventLog';
import { backoffDelay, withJitter } from '@ipwatch/core/retry';
import { EmitterOptionError } from './errors.ts';
import { wholeNumber } from './optionChecks.ts';

/** Why an event was dropped rather than sent. */
export type DropReason = 'buffer_full' | 'closed' | 'close_timeout';

export interface EventBufferOptions {
  log: EventLog;
  topic: string;
  /** Events held at most, in flight included. Default 10,000. */
  maxEvents?: number;
  /** Events per produce call at most. Default 500. */
  maxBatch?: number;
  /** How long an event may wait for companions before a batch is sent. Default 50 ms. */
  flushIntervalMs?: number;
  /** First retry delay after a failed produce; doubles per consecutive failure. Default 100 ms. */
  retryMinMs?: number;
  /** Longest retry delay. Default 5,000 ms. */
  retryMaxMs?: number;
  /** Called on each failed produce (for a log line or a metric); errors it throws are ignored. */
  onError?: (err: unknown) => void;
}

export interface EventBufferStats {
  /** Events held now, the batch in flight included. */
  buffered: number;
  /** Events the log accepted. */
  sent: number;
  /** Events dropped, all reasons. */
  dropped: number;
  droppedByReason: Record<DropReason, number>;
  /** Failed produce calls. */
  failures: number;
  /** Failed produce calls since the last success: > 0 means the log is down or refusing. */
  consecutiveFailures: number;
  /** Message of the last produce failure, or null. */
  lastError: string | null;
  /** Whether a produce call is in flight, and for how long (ms); a long one means the log is stalled. */
  inFlightMs: number | null;
}

export interface EventBuffer {
  /** Queues one message. Never throws, never waits; returns false when the event was dropped. */
  push(key: string | null, value: Buffer, headers?: Record<string, string>): boolean;
  /** Sends what is buffered now. Resolves true once it was all accepted, false at the timeout (default 5 s). Never rejects. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops accepting events, flushes for up to `timeoutMs` (default 5 s), then drops (and counts) what is left. */
  close(timeoutMs?: number): Promise<void>;
  stats(): EventBufferStats;
}

/**
 * Creates the buffer and its background flush loop. Its timers are unref'd: the buffer never
 * keeps a process alive; call `close()` on shutdown to send what is left.
 *
 * @example
 * const buffer = createEventBuffer({ log, topic: TOPICS.requests, maxEvents: 10_000 });
 * buffer.push('203.0.113.7', codecs.RequestEvent.encode(event), { [SCHEMA_HEADER]: 'RequestEvent' });
 * // on shutdown
 * await buffer.close();
 * console.log(buffer.stats()); // { buffered: 0, sent: 1, dropped: 0, ... }
 */
export function createEventBuffer(options: EventBufferOptions): EventBuffer {
  const { log, topic, onError } = options ?? ({} as EventBufferOptions);
  if (!log || typeof log.produce !== 'function') throw new EmitterOptionError('log must be an EventLog (an object with produce(topic, messages))');
  if (typeof topic !== 'string' || topic === '') throw new EmitterOptionError(`topic must be a topic name such as 'ipwatch.requests.v1', not ${JSON.stringify(topic)}`);
  const maxEvents = wholeNumber('maxEvents', options.maxEvents ?? 10_000, 1, 10_000_000);
  const maxBatch = Math.min(wholeNumber('maxBatch', options.maxBatch ?? 500, 1, 1_000_000), maxEvents);
  const flushIntervalMs = wholeNumber('flushIntervalMs', options.flushIntervalMs ?? 50, 1, 60_000);
  const retryMinMs = wholeNumber('retryMinMs', options.retryMinMs ?? 100, 1, 600_000);
  const retryMaxMs = Math.max(retryMinMs, wholeNumber('retryMaxMs', options.retryMaxMs ?? 5_000, 1, 600_000));

  // A fixed ring: no array growth or shifting however long the log is down.
  const ring: Array<OutgoingMessage | undefined> = new Array(maxEvents);
  let head = 0;
  let size = 0;
  /** Messages at the head that are in the produce call in flight (0 when none is). */
  let inFlight = 0;
  let inFlightSince = 0;
  let timer: NodeJS.Timeout | null = null;
  let closing = false;
  let closed = false;

  let accepted = 0; // events ever accepted; with `removed`, tells flush() when its events are gone
  let removed = 0;
  let sent = 0;
  let failures = 0;
  let consecutiveFailures = 0;
  let lastError: string | null = null;
  const droppedByReason: Record<DropReason, number> = { buffer_full: 0, closed: 0, close_timeout: 0 };
  let waiters: Array<{ target: number; resolve: (done: boolean) => void }> = [];

  const removeHead = (n: number): void => {
    for (let i = 0; i < n; i++) {
      ring[head] = undefined;
      head = head + 1 === maxEvents ? 0 : head + 1;
    }
    size -= n;
    removed += n;
    if (waiters.length > 0) {
      const still = [];
      for (const w of waiters) if (removed >= w.target) w.resolve(true); else still.push(w);
      waiters = still;
    }
  };

  const arm = (delayMs: number): void => {
    if (timer !== null || inFlight > 0 || closed) return;
    timer = setTimeout(tick, delayMs);
    timer.unref();
  };

  function tick(): void {
    timer = null;
    if (inFlight === 0 && size > 0 && !closed) send();
  }

  function send(): void {
    const n = Math.min(size, maxBatch);
    const batch = new Array<OutgoingMessage>(n);
    for (let i = 0, j = head; i < n; i++, j = j + 1 === maxEvents ? 0 : j + 1) batch[i] = ring[j]!;
    inFlight = n;
    inFlightSince = Date.now();
    let attempt: Promise<void>;
    try {
      attempt = log.produce(topic, batch);
    } catch (err) {
      attempt = Promise.reject(err);
    }
    attempt.then(onSent, onFailed);
  }

  function onSent(): void {
    const n = inFlight;
    inFlight = 0;
    sent += n;
    consecutiveFailures = 0;
    removeHead(n);
    if (closed) return;
    // A full batch waiting means we are behind, and a flush() waiting means now: no linger either way.
    if (size >= maxBatch || (size > 0 && waiters.length > 0)) send();
    else if (size > 0) arm(flushIntervalMs);
  }

  function onFailed(err: unknown): void {
    const n = inFlight;
    inFlight = 0;
    failures++;
    consecutiveFailures++;
    lastError = err instanceof Error ? err.message : String(err);
    if (onError) {
      try {
        onError(err);
      } catch {
        // a broken error hook must not stop the loop; the failure is counted above
      }
    }
    if (closed) {
      // close() gave up on these while they were in flight
      droppedByReason.close_timeout += n;
      removeHead(n);
      return;
    }
    // Jittered: many app instances must not retry in step.
    arm(withJitter(backoffDelay(consecutiveFailures, retryMinMs, retryMaxMs)));
  }

  const push: EventBuffer['push'] = (key, value, headers) => {
    if (closing) {
      droppedByReason.closed++;
      return false;
    }
    if (size >= maxEvents) {
      droppedByReason.buffer_full++;
      return false;
    }
    let tail = head + size;
    if (tail >= maxEvents) tail -= maxEvents;
    ring[tail] = headers === undefined ? { key, value } : { key, value, headers };
    size++;
    accepted++;
    if (timer === null && inFlight === 0) arm(flushIntervalMs);
    return true;
  };

  const flush: EventBuffer['flush'] = (timeoutMs = 5_000) => {
    if (size === 0) return Promise.resolve(true);
    const target = accepted;
    if (inFlight === 0 && !closed) {
      // flush() means now: skip the linger and any back-off wait
      if (timer !== null) clearTimeout(timer);
      timer = null;
      send();
    }
    if (removed >= target) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = { target, resolve: (done: boolean) => { clearTimeout(t); resolve(done); } };
      const t = setTimeout(() => {
        waiters = waiters.filter((w) => w !== waiter);
        resolve(removed >= target);
      }, timeoutMs); // not unref'd: someone awaits this flush, so the process stays up until it ends
      waiters.push(waiter);
    });
  };

  const close: EventBuffer['close'] = async (timeoutMs = 5_000) => {
    if (closing) {
      if (!closed) await flush(timeoutMs);
      return;
    }
    closing = true;
    await flush(timeoutMs);
    closed = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    // Whatever is not in flight now will never be sent: count it, so nothing accepted vanishes silently.
    const left = size - inFlight;
    if (left > 0) {
      droppedByReason.close_timeout += left;
      let tail = head + inFlight;
      for (let i = 0; i < left; i++, tail = tail + 1 === maxEvents ? 0 : tail + 1) ring[tail] = undefined;
      size -= left;
      removed += left;
    }
    for (const w of waiters) w.resolve(removed >= w.target);
    waiters = [];
  };

  const stats: EventBuffer['stats'] = () => ({
    buffered: size,
    sent,
    dropped: droppedByReason.buffer_full + droppedByReason.closed + droppedByReason.close_timeout,
    droppedByReason: { ...droppedByReason },
    failures,
    consecutiveFailures,
    lastError,
    inFlightMs: inFlight > 0 ? Date.now() - inFlightSince : null,
  });

  return { push, flush, close, stats };
}
