/**
 * Rate strings as people write them in config ("5/m", "3/5m", "100/h", "10/30s", "1000/d"),
 * parsed once at start into a limit and a window in milliseconds.
 */
import { EmitterOptionError } from '../errors.ts';

export interface Rate {
  /** Requests admitted in any window of `windowMs`. */
  limit: number;
  windowMs: number;
  /** The text it was parsed from, e.g. '3/5m'. */
  text: string;
}

/**
 * Most requests counted in one window. A key's memory no longer grows with its limit (a
 * count per bucket, buckets.ts), but each count is 16 bits in Redis; a higher rate is the
 * same rate over a shorter window.
 */
export const MAX_RATE_LIMIT = 10_000;
/** Longest window: 30 days. */
export const MAX_WINDOW_MS = 30 * 24 * 3600 * 1000;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const RATE_RE = /^(\d{1,9})\/(\d{1,9})?([smhd])$/;
const FORMS = "write it as <requests>/<window>, e.g. '5/m', '3/5m', '100/h', '10/30s' or '1000/d' (units s, m, h, d)";

/** Seconds as the shortest unit text: 60 -> 'm', 300 -> '5m', 45 -> '45s'. */
function windowText(windowMs: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = windowMs / UNIT_MS[unit];
    if (Number.isInteger(n)) return n === 1 ? unit : `${n}${unit}`;
  }
  return `${Math.ceil(windowMs / 1000)}s`;
}

/**
 * Parses a rate string; throws EmitterOptionError naming the accepted forms. `name` says
 * which option held it, for the message.
 *
 * @example
 * parseRate('3/5m');  // { limit: 3, windowMs: 300000, text: '3/5m' }
 * parseRate('5/min'); // throws: rules.anonymous: "5/min" is not a rate: write it as <requests>/<window>, ...
 */
export function parseRate(text: unknown, name = 'rate'): Rate {
  if (typeof text !== 'string') throw new EmitterOptionError(`${name} must be a rate string, not ${JSON.stringify(text) ?? String(text)}: ${FORMS}`);
  const m = RATE_RE.exec(text.trim());
  if (!m) throw new EmitterOptionError(`${name}: ${JSON.stringify(text)} is not a rate: ${FORMS}`);
  const limit = Number(m[1]);
  const count = m[2] === undefined ? 1 : Number(m[2]);
  const windowMs = count * UNIT_MS[m[3] as keyof typeof UNIT_MS];
  if (limit < 1) throw new EmitterOptionError(`${name}: ${JSON.stringify(text)} admits no request at all; to switch the rule off, give false instead of a rate`);
  if (count < 1) throw new EmitterOptionError(`${name}: ${JSON.stringify(text)} has an empty window; ${FORMS}`);
  if (windowMs > MAX_WINDOW_MS) throw new EmitterOptionError(`${name}: ${JSON.stringify(text)} has a window longer than 30 days; use at most '30d'`);
  if (limit > MAX_RATE_LIMIT) {
    // Same rate, shorter window: the window shrinks by the factor the limit must shrink by.
    const factor = Math.ceil(limit / MAX_RATE_LIMIT);
    const suggestion = windowMs / factor >= 1000 ? `${Math.floor(limit / factor)}/${windowText(Math.floor(windowMs / factor / 1000) * 1000)}` : null;
    throw new EmitterOptionError(
      `${name}: ${JSON.stringify(text)} counts more than ${MAX_RATE_LIMIT} requests per window, the most a limit counts; ` +
        (suggestion ? `write the same rate over a shorter window, e.g. '${suggestion}'` : 'write the same rate over a shorter window'),
    );
  }
  return { limit, windowMs, text: text.trim() };
}
