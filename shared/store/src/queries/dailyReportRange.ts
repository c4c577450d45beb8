/**
 * Which instants a daily report covers: one local calendar day in an IANA time zone,
 * [local 00:00, next local 00:00), and the day before it. The UTC bounds are computed here in
 * JS with Intl (the zone's rules as Node's ICU knows them), so ClickHouse only ever sees two
 * epoch-millisecond parameters and a DST day is simply 23 or 25 hours long.
 */
import { isRealDate } from '@ipwatch/core/blockTarget';
import { FilterError } from './requestFilter.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface DailyReportQuery {
  /** The local calendar day, YYYY-MM-DD. */
  date: string;
  /** IANA time zone, e.g. Europe/Paris; UTC is one. */
  timeZone: string;
  /** Rows per top list: 1 to 100, default 10. */
  top?: number;
  /** The clock (for generatedAt), for tests. */
  now?: number;
}

/** One local day as UTC instants. */
export interface LocalDay {
  /** YYYY-MM-DD, local. */
  date: string;
  /** Epoch ms of local 00:00 (or of the first instant of the day when midnight is skipped). */
  since: number;
  /** Epoch ms of the next day's start. */
  until: number;
  /** (until - since) in hours: 24, or 23 / 25 on a DST change (23.5 / 24.5 in a few zones). */
  hours: number;
}

export interface DailyReportScope {
  timeZone: string;
  day: LocalDay;
  previous: LocalDay;
  top: number;
}

export const DEFAULT_REPORT_TOP = 10;
export const MAX_REPORT_TOP = 100;

const formats = new Map<string, Intl.DateTimeFormat>();

/** A formatter of wall-clock fields in `timeZone` (cached: building one is the slow part). */
function wallClock(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formats.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time of `ms` in the zone, as the parts Intl gives. */
function wallParts(ms: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number } {
  const parts: Record<string, number> = {};
  for (const p of wallClock(timeZone).formatToParts(ms)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute! };
}

/** The zone's name as Intl knows it (canonical case), or FilterError saying what is accepted. */
export function reportTimeZone(text: string): string {
  const t = String(text ?? '').trim();
  // Intl also reads offsets (+01:00) in some Node versions: a report's day is a place's day, so names only.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(t) || t.length > 64) {
    throw new FilterError(`time zone ${JSON.stringify(t.slice(0, 64))} is not an IANA time zone name: give one such as UTC, Europe/Paris or America/New_York`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: t }).resolvedOptions().timeZone;
  } catch {
    throw new FilterError(`time zone ${JSON.stringify(t)} is not known: give an IANA time zone name such as UTC, Europe/Paris or America/New_York`);
  }
}

/** [year, month, day] of a YYYY-MM-DD that the calendar has, or FilterError. */
function calendarDay(text: string): [number, number, number] {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(text ?? '').trim());
  if (!m) throw new FilterError(`date ${JSON.stringify(String(text ?? '').slice(0, 40))} is not a day: write it YYYY-MM-DD, e.g. 2026-11-30`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1970 || !isRealDate(y, mo, d)) throw new FilterError(`date ${JSON.stringify(m[0])} is not a real day (from 1970 on): give a day the month has, e.g. ${m[1]}-${m[2]}-01`);
  return [y, mo, d];
}

const key = (y: number, mo: number, d: number) => y * 10_000 + mo * 100 + d;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The first instant whose local date is `date` or later: local midnight, or the end of the
 * gap where a zone skips midnight. A binary search over seconds around UTC midnight (a zone is
 * at most 14 h from UTC); 19 Intl calls.
 */
function dayStart(y: number, mo: number, d: number, timeZone: string): number {
  const target = key(y, mo, d);
  let lo = Date.UTC(y, mo - 1, d) - 15 * HOUR;
  let hi = Date.UTC(y, mo - 1, d) + 15 * HOUR;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    const w = wallParts(mid, timeZone);
    if (key(w.year, w.month, w.day) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** One local day of `timeZone` (validated: a zone from reportTimeZone). */
export function localDay(date: string, timeZone: string): LocalDay {
  const [y, mo, d] = calendarDay(date);
  const since = dayStart(y, mo, d, timeZone);
  const next = new Date(Date.UTC(y, mo - 1, d) + DAY);
  const until = dayStart(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone);
  return { date: iso(Date.UTC(y, mo - 1, d)), since, until, hours: (until - since) / HOUR };
}

/** The local date (YYYY-MM-DD) of `ms` in the zone. */
export function localDate(ms: number, timeZone: string): string {
  const w = wallParts(ms, reportTimeZone(timeZone));
  return iso(Date.UTC(w.year, w.month - 1, w.day));
}

/** Local wall-clock "HH:MM" of `ms` in the zone (the labels of the hourly buckets). */
export function localTime(ms: number, timeZone: string): string {
  const w = wallParts(ms, timeZone);
  return `${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
}

/**
 * Yesterday in the zone: the default day of a report (the last whole day).
 *
 * @example
 * yesterdayIn('Europe/Paris', Date.parse('2026-12-01T00:30:00Z')); // '2026-11-30'
 */
export function yesterdayIn(timeZone: string, now = Date.now()): string {
  const today = localDate(now, timeZone);
  return iso(Date.parse(`${today}T00:00:00Z`) - DAY);
}

/**
 * A report's scope: the day, the day before, the size of the top lists. Throws FilterError
 * for a date that is not YYYY-MM-DD or not a real day, an unknown zone, or a bad `top`.
 *
 * @example
 * reportScope({ date: '2026-03-29', timeZone: 'Europe/Paris' }).day.hours; // 23
 */
export function reportScope(query: DailyReportQuery): DailyReportScope {
  const timeZone = reportTimeZone(query.timeZone);
  const day = localDay(query.date, timeZone);
  const top = query.top ?? DEFAULT_REPORT_TOP;
  if (!Number.isInteger(top) || top < 1 || top > MAX_REPORT_TOP) throw new FilterError(`top ${JSON.stringify(String(top).slice(0, 20))} must be a whole number from 1 to ${MAX_REPORT_TOP}`);
  const previous = localDay(iso(Date.parse(`${day.date}T00:00:00Z`) - DAY), timeZone);
  return { timeZone, day, previous, top };
}

/**
 * The scope of any range [sinceMs, untilMs) against the range of the same length just before
 * it, for the daily report's queries (the overview's periods). Times are UTC; `date` is the
 * range's first UTC day. Throws FilterError for an empty or reversed range or a bad `top`.
 *
 * @example
 * rangeScope(Date.parse('2026-11-30T12:00:00Z'), Date.parse('2026-11-30T13:00:00Z'), 10).previous.since; // 11:00 UTC
 */
export function rangeScope(sinceMs: number, untilMs: number, top = DEFAULT_REPORT_TOP): DailyReportScope {
  if (!Number.isSafeInteger(sinceMs) || !Number.isSafeInteger(untilMs) || untilMs <= sinceMs || sinceMs < 0) {
    throw new FilterError(`the range ${sinceMs} to ${untilMs} is not a range of time: give epoch milliseconds, the end after the start`);
  }
  if (!Number.isInteger(top) || top < 1 || top > MAX_REPORT_TOP) throw new FilterError(`top ${JSON.stringify(String(top).slice(0, 20))} must be a whole number from 1 to ${MAX_REPORT_TOP}`);
  const length = untilMs - sinceMs;
  const span = (since: number, until: number): LocalDay => ({ date: iso(since), since, until, hours: (until - since) / HOUR });
  return { timeZone: 'UTC', day: span(sinceMs, untilMs), previous: span(sinceMs - length, sinceMs), top };
}

/** `ts` in the day or the day before, and whether a row is of the day (`cur`), as typed parameters. */
export function twoDays(scope: DailyReportScope): { where: string; cur: string; params: Record<string, number> } {
  return {
    where: 'ts >= fromUnixTimestamp64Milli({prevSince:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})',
    cur: 'ts >= fromUnixTimestamp64Milli({since:Int64})',
    params: { prevSince: scope.previous.since, since: scope.day.since, until: scope.day.until },
  };
}
