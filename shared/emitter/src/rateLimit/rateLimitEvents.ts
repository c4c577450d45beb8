/**
 * Refused requests as RateLimitEvents, folded so that a flood makes few events: refusals
 * under one (rule, limitKey) within a flush interval become one event with their count.
 * An attack spread over many keys is bounded too: beyond `maxKeys` distinct keys in one
 * interval, refusals are only counted (stats().overflow), so the pipeline sees at most
 * maxKeys events per interval whatever arrives.
 */
import { codecs, SCHEMA_HEADER, type RateLimitEvent } from '@ipwatch/core/schemas';
import type { EventBuffer } from '../eventBuffer.ts';
import { EmitterOptionError } from '../errors.ts';
import { wholeNumber } from '../optionChecks.ts';
import { sanitizeHeaderValue, sanitizePath } from '../sanitize.ts';

/** What the aggregator needs of a refusal (a limited RateLimitDecision has it). */
export interface RateLimitRefusal {
  rule: string;
  limitKey: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitEventAggregatorOptions {
  /** Where encoded events go: a buffer for TOPICS.rateLimit. */
  buffer: EventBuffer;
  /** Name of the app, on every event. Default ''. */
  app?: string;
  /** How long refusals are folded before their events are sent, ms. Default 1000. */
  flushMs?: number;
  /** Distinct (rule, limitKey) pairs per interval at most; refusals beyond are counted as overflow. Default 10,000. */
  maxKeys?: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

export interface RateLimitEventAggregatorStats {
  /** Refusals recorded. */
  recorded: number;
  /** Refusals folded into an event already pending for their (rule, limitKey) (that event's count). */
  folded: number;
  /** Refusals in no event handed on: overflow, plus the counts of events the buffer refused or could not encode. */
  dropped: number;
  /** Events handed to the buffer (each folds `count` refusals). */
  events: number;
  /** Events the buffer refused (full or closed); it counts them too. */
  bufferDropped: number;
  /** Refusals past maxKeys in their interval: counted here, in no event. */
  overflow: number;
  /** Distinct keys waiting for the next flush. */
  pending: number;
  /** Events that could not be encoded (a bug; counted, never thrown). */
  encodeErrors: number;
}

export interface RateLimitEventAggregator {
  /** Counts one refusal. Never throws, never waits. */
  record(refusal: RateLimitRefusal, ip: string, path: string, userId: string | null): void;
  /** Sends what is folded now; returns the number of events pushed. */
  flush(): number;
  /** Flushes and stops the timer; later records are counted as overflow. */
  close(): void;
  stats(): RateLimitEventAggregatorStats;
}

const MESSAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [SCHEMA_HEADER]: 'RateLimitEvent' });
const MAX_PATH = 2048;
const MAX_TEXT = 1024;

/**
 * @example
 * const buffer = createEventBuffer({ log, topic: TOPICS.rateLimit });
 * const events = createRateLimitEventAggregator({ buffer, app: 'shop' });
 * const limiter = createRateLimiter({ store: 'redis://127.0.0.1:6379', events });
 */
export function createRateLimitEventAggregator(options: RateLimitEventAggregatorOptions): RateLimitEventAggregator {
  const { buffer } = options ?? ({} as RateLimitEventAggregatorOptions);
  if (!buffer || typeof buffer.push !== 'function') throw new EmitterOptionError('buffer must be an EventBuffer (see createEventBuffer) for the rate-limit topic');
  const app = options.app ?? '';
  if (typeof app !== 'string' || app.length > 256) throw new EmitterOptionError(`app must be a name of at most 256 characters, not ${JSON.stringify(app)}`);
  const flushMs = wholeNumber('flushMs', options.flushMs ?? 1000, 1, 600_000);
  const maxKeys = wholeNumber('maxKeys', options.maxKeys ?? 10_000, 1, 1_000_000);
  const now = options.now ?? Date.now;

  let pending = new Map<string, RateLimitEvent>();
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let recorded = 0;
  let events = 0;
  let bufferDropped = 0;
  let overflow = 0;
  let encodeErrors = 0;
  let folded = 0;
  let droppedRefusals = 0;

  function flush(): number {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (pending.size === 0) return 0;
    const batch = pending;
    pending = new Map();
    let pushed = 0;
    for (const event of batch.values()) {
      try {
        if (buffer.push(event.ip, codecs.RateLimitEvent.encode(event), MESSAGE_HEADERS)) {
          pushed++;
          continue;
        }
        bufferDropped++;
      } catch {
        encodeErrors++; // a bug, not the request's business: counted, never thrown
      }
      droppedRefusals += event.count;
    }
    events += pushed;
    return pushed;
  }

  function record(refusal: RateLimitRefusal, ip: string, path: string, userId: string | null): void {
    recorded++;
    if (closed) {
      overflow++;
      return;
    }
    const id = `${refusal.rule}\n${refusal.limitKey}`;
    const entry = pending.get(id);
    if (entry !== undefined) {
      entry.count++;
      folded++;
      return;
    }
    if (pending.size >= maxKeys) {
      overflow++;
      return;
    }
    // The first refusal of the interval speaks for the rest (its ip, path and user).
    pending.set(id, {
      ts: now(),
      ip: sanitizeHeaderValue(ip, 64),
      rule: refusal.rule,
      limitKey: sanitizeHeaderValue(refusal.limitKey, MAX_TEXT),
      limit: refusal.limit,
      windowMs: refusal.windowMs,
      count: 1,
      path: sanitizePath(path, MAX_PATH),
      userId: userId === null ? null : sanitizeHeaderValue(userId, MAX_TEXT),
      app,
    });
    if (timer === null) {
      timer = setTimeout(flush, flushMs);
      timer.unref();
    }
  }

  return {
    record,
    flush,
    close: () => {
      flush();
      closed = true;
    },
    stats: () => ({ recorded, folded, dropped: overflow + droppedRefusals, events, bufferDropped, overflow, pending: pending.size, encodeErrors }),
  };
}
