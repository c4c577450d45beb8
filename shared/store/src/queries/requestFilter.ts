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
  /** HTTP method, upper case. */
  method?: string;
  asn?: number;
  /** A user id or a login username (either matches). */
  user?: string;
  /** Case-insensitive substring of the user agent. */
  uaContains?: string;
  blocked?: boolean;
  rateLimited?: boolean;
  /** Rows matching any of these are left out (the log's `not_<name>` parameters). */
  exclude?: RequestExclusions;
  sinceMs?: number;
  untilMs?: number;
  /** Keyset cursor: only rows strictly older than (ts, event_id), newest first. */
  before?: { tsMs: number; eventId: string };
  /** Emitting process; set by ipwatch itself (dev's own count), never parsed from input. */
  instance?: string;
  limit: number;
}

/** What the request log can leave out: one value per field, each excluded on its own. */
export interface RequestExclusions {
  ipRange?: { from: string; to: string };
  pathContains?: string;
  method?: string;
  status?: { from: number; to: number };
  country?: string;
  asn?: number;
  user?: string;
  uaContains?: string;
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

function statusRange(text: string, flag = '--status'): { from: number; to: number } {
  const t = text.trim().toLowerCase();
  let m = /^([1-5])xx$/.exec(t);
  if (m) return { from: Number(m[1]) * 100, to: Number(m[1]) * 100 + 99 };
  m = /^(\d{3})$/.exec(t);
  if (m) return { from: Number(m[1]), to: Number(m[1]) };
  m = /^(\d{3})-(\d{3})$/.exec(t);
  if (m && Number(m[1]) <= Number(m[2])) return { from: Number(m[1]), to: Number(m[2]) };
  m = /^>=(\d{3})$/.exec(t);
  if (m) return { from: Number(m[1]), to: 999 };
  throw new FilterError(`${flag} ${JSON.stringify(text.slice(0, 40))} is not a status filter: use 404, 4xx, 400-499 or >=400`);
}

/** The inclusive range of IPv6-column values an IP or CIDR covers (IPv4 lives in ::ffff:0:0/96). */
export function ipColumnRange(text: string, flag = '--ip'): { from: string; to: string } {
  let cidr;
  try {
    refusePort(text);
    cidr = parseCidr(text);
  } catch (err) {
    if (err instanceof InvalidAddressError) throw new FilterError(`${flag}: ${err.message}`);
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

/** The request log's query parameters (the dashboard's URL): see services/api/src/dashboard/links.ts. */
export const LOG_FILTER_FIELDS = ['ip', 'path', 'method', 'status', 'country', 'asn', 'user', 'ua'] as const;
export type LogFilterField = (typeof LOG_FILTER_FIELDS)[number];
export type LogFilterInput = Partial<Record<LogFilterField | `not_${LogFilterField}` | 'since' | 'until' | 'blocked' | 'limited' | 'before' | 'limit', string>>;

/** The widest page of the request log. */
export const MAX_LOG_PAGE = 1000;
const DAY_MS = 86_400_000;

/** One field's value, typed; path and ua are matched as given, other fields trimmed. */
function fieldValue(field: LogFilterField, raw: string): RequestExclusions {
  const text = field === 'path' || field === 'ua' ? raw : raw.trim();
  switch (field) {
    case 'ip':
      return { ipRange: ipColumnRange(text, field) };
    case 'path':
      if (text.length > 2048) throw new FilterError('path is longer than 2048 characters: give a shorter part of it (it matches anywhere in the path)');
      return { pathContains: text };
    case 'method':
      if (!/^[A-Za-z]{1,16}$/.test(text)) throw new FilterError(`method ${JSON.stringify(text.slice(0, 40))} is not an HTTP method: give one such as GET or POST`);
      return { method: text.toUpperCase() };
    case 'status':
      return { status: statusRange(text, field) };
    case 'country':
      if (!/^[A-Za-z]{2}$/.test(text)) throw new FilterError(`country ${JSON.stringify(text.slice(0, 40))} must be a two-letter ISO code such as US or DE`);
      return { country: text.toUpperCase() };
    case 'asn': {
      const m = /^(?:AS)?(\d{1,10})$/i.exec(text.trim());
      const n = m ? Number(m[1]) : NaN;
      if (!Number.isInteger(n) || n > 4_294_967_295) throw new FilterError(`asn ${JSON.stringify(text.slice(0, 40))} is not a network number: give one such as 13335 or AS13335`);
      return { asn: n };
    }
    case 'user':
      if (text.length > 256) throw new FilterError('user is longer than 256 characters: give a user id or a login username');
      return { user: text };
    case 'ua':
      if (text.length > 1024) throw new FilterError('ua is longer than 1024 characters: give a shorter part of the user agent (it matches anywhere in it)');
      return { uaContains: text };
  }
}

function flag(name: string, text: string): boolean {
  if (text === 'true' || text === '1' || text === 'yes') return true;
  if (text === 'false' || text === '0' || text === 'no') return false;
  throw new FilterError(`${name} ${JSON.stringify(text.slice(0, 40))} must be true or false`);
}

/** A keyset cursor `<unix ms>,<event_id>` as the log's "older" link writes it. */
export function parseLogCursor(text: string): { tsMs: number; eventId: string } {
  const m = /^(\d{1,15}),([\x21-\x7e]{0,128})$/.exec(text);
  if (!m) throw new FilterError(`before ${JSON.stringify(text.slice(0, 60))} is not a page cursor: follow the log's "older" link (it writes before=<unix ms>,<event id>), or leave before out to start at the newest`);
  return { tsMs: Number(m[1]), eventId: m[2]! };
}

/**
 * The request log's filter from its URL parameters (links.ts names them): every value applied
 * or refused with what is accepted; an empty value means "not filtered" (a form's empty
 * field). Without `since` the log covers the 24 hours before `until` (or now), so every query
 * is bounded by time; the page holds 100 rows unless `limit` (1 to 1000) says otherwise.
 *
 * @example
 * parseLogFilter({ ip: '203.0.113.0/24', not_status: '2xx', before: '1764553415123,ev-9' }, now);
 * // { ipRange: {...}, exclude: { status: { from: 200, to: 299 } }, sinceMs: now - 86400000, before: {...}, limit: 100 }
 */
export function parseLogFilter(input: LogFilterInput, now = Date.now()): RequestFilter {
  const given = (name: keyof LogFilterInput): string | undefined => {
    const v = input[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };
  const filter: RequestFilter = { limit: 100 };
  const exclude: RequestExclusions = {};
  for (const field of LOG_FILTER_FIELDS) {
    const value = given(field);
    if (value !== undefined) Object.assign(filter, fieldValue(field, value));
    const not = given(`not_${field}`);
    if (not !== undefined) {
      try {
        Object.assign(exclude, fieldValue(field, not));
      } catch (err) {
        if (err instanceof FilterError) throw new FilterError(`not_${err.message}`, { cause: err });
        throw err;
      }
    }
  }
  if (Object.keys(exclude).length) filter.exclude = exclude;
  const blocked = given('blocked');
  if (blocked !== undefined) filter.blocked = flag('blocked', blocked.trim());
  const limited = given('limited');
  if (limited !== undefined) filter.rateLimited = flag('limited', limited.trim());
  const until = given('until');
  if (until !== undefined) filter.untilMs = parseTimeBound(until, now, 'until');
  const since = given('since');
  filter.sinceMs = since !== undefined ? parseTimeBound(since, now, 'since') : (filter.untilMs ?? now) - DAY_MS;
  if (filter.untilMs !== undefined && filter.untilMs <= filter.sinceMs) throw new FilterError('until is not after since: give a since earlier than until');
  const before = given('before');
  if (before !== undefined) filter.before = parseLogCursor(before.trim());
  const limit = given('limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LOG_PAGE) throw new FilterError(`limit ${JSON.stringify(limit.slice(0, 20))} must be a whole number from 1 to ${MAX_LOG_PAGE}`);
    filter.limit = n;
  }
  return filter;
}
