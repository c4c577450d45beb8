/**
 * What a person may filter the request log by, parsed from text (CLI flags, API query
 * strings) into typed values. Every failure says what was wrong and what would be right.
 */
import { parseCidr, formatIp, mask, InvalidAddressError } from '@ipwatch/core/ip';
import { IpwatchError } from '@ipwatch/core/errors';
import { isRealDate, refusePort } from '@ipwatch/core/blockTarget';

export interface RequestFilter {
  /** Inclusive IPv6-column range (IPv4 mapped), from an IP or CIDR. */
  ipRange?: { from: string; to: string };
  /** Case-insensitive substring of the path. */
  pathContains?: string;
  status?: { from: number; to: number };
  country?: string;
  sinceMs?: number;
  untilMs?: number;
  /** Emitting process; set by ipwatch itself (dev's own count), never parsed from input. */
  instance?: string;
  limit: number;
}

export interface RequestFilterInput {
  ip?: string;
  path?: string;
  status?: string;
  country?: string;
  since?: string;
  until?: string;
  limit?: string | number;
}

export class FilterError extends IpwatchError {
  override readonly name = 'FilterError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_BAD_FILTER', message, options);
  }
}

export const MAX_LIMIT = 10_000;

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "15m", "2h", "7d" before now, or an ISO-8601 date/time of a day the calendar has. */
export function parseTimeBound(text: string, now: number, flag: string): number {
  const rel = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * DURATION_UNITS[rel[2]!]!;
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(text.trim());
  if (day) {
    // Date.parse rolls 2026-02-30 over into March: a filter on a day that does not exist would quietly ask for another.
    if (!isRealDate(Number(day[1]), Number(day[2]), Number(day[3]))) {
      throw new FilterError(`${flag} ${JSON.stringify(text)} is not a real date (${day[0]} is not a day of that month): give a day the month has, e.g. ${day[1]}-${day[2]}-01`);
    }
    const t = Date.parse(text.trim());
    if (!Number.isNaN(t)) return t;
  }
  throw new FilterError(`${flag} ${JSON.stringify(text)} is not a time: use a duration before now such as 30s, 15m, 2h, 7d, or an ISO-8601 date such as 2026-11-24T10:00:00Z`);
}

function statusRange(text: string): { from: number; to: number } {
  const t = text.trim().toLowerCase();
  let m = /^([1-5])xx$/.exec(t);
  if (m) return { from: Number(m[1]) * 100, to: Number(m[1]) * 100 + 99 };
  m = /^(\d{3})$/.exec(t);
  if (m) return { from: Number(m[1]), to: Number(m[1]) };
  m = /^(\d{3})-(\d{3})$/.exec(t);
  if (m && Number(m[1]) <= Number(m[2])) return { from: Number(m[1]), to: Number(m[2]) };
  m = /^>=(\d{3})$/.exec(t);
  if (m) return { from: Number(m[1]), to: 999 };
  throw new FilterError(`--status ${JSON.stringify(text)} is not a status filter: use 404, 4xx, 400-499 or >=400`);
}

/** The inclusive range of IPv6-column values an IP or CIDR covers (IPv4 lives in ::ffff:0:0/96). */
export function ipColumnRange(text: string): { from: string; to: string } {
  let cidr;
  try {
    refusePort(text);
    cidr = parseCidr(text);
  } catch (err) {
    if (err instanceof InvalidAddressError) throw new FilterError(`--ip: ${err.message}`);
    throw err;
  }
  const bits = cidr.version === 4 ? 32 : 128;
  const hostMask = ~mask(cidr.version, cidr.prefix) & ((1n << BigInt(bits)) - 1n);
  const lo = { version: cidr.version, value: cidr.network };
  const hi = { version: cidr.version, value: cidr.network | hostMask };
  const col = (ip: typeof lo) => (ip.version === 4 ? `::ffff:${formatIp(ip)}` : formatIp(ip));
  return { from: col(lo), to: col(hi) };
}

/**
 * Every filter given is applied or refused, never ignored: an empty value (a script's unset
 * variable) is refused rather than read as "no filter", which would list every request.
 */
export function parseRequestFilter(input: RequestFilterInput, now = Date.now()): RequestFilter {
  for (const [name, value] of Object.entries(input)) {
    if (value === '') throw new FilterError(`--${name} is empty: give a value (see \`ipwatch logs --help\`), or leave --${name} out to not filter by it`);
  }
  const filter: RequestFilter = { limit: 50 };
  if (input.ip !== undefined && input.ip !== '') filter.ipRange = ipColumnRange(input.ip);
  if (input.path !== undefined && input.path !== '') {
    if (input.path.length > 2048) throw new FilterError('--path is longer than 2048 characters: give a shorter part of it (it matches anywhere in the path)');
    filter.pathContains = input.path;
  }
  if (input.status !== undefined && input.status !== '') filter.status = statusRange(input.status);
  if (input.country !== undefined && input.country !== '') {
    if (!/^[A-Za-z]{2}$/.test(input.country)) throw new FilterError(`--country ${JSON.stringify(input.country)} must be a two-letter ISO code such as US or DE`);
    filter.country = input.country.toUpperCase();
  }
  if (input.since !== undefined && input.since !== '') filter.sinceMs = parseTimeBound(input.since, now, '--since');
  if (input.until !== undefined && input.until !== '') filter.untilMs = parseTimeBound(input.until, now, '--until');
  if (input.limit !== undefined && input.limit !== '') {
    const n = Number(input.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new FilterError(`--limit ${JSON.stringify(String(input.limit))} must be a whole number from 1 to ${MAX_LIMIT}`);
    filter.limit = n;
  }
  return filter;
}
