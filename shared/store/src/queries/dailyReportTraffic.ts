/** A daily report's traffic: the headline counts of the day and the day before in one pass, and the day's requests per local hour. */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import { localTime, twoDays, type DailyReportScope } from './dailyReportRange.ts';

const HOUR = 3_600_000;

/** A count of the day, the same count the day before, (value - previous) / previous (null when previous is 0). */
export interface Figure {
  value: number;
  previous: number;
  change: number | null;
}

/** A share (0 to 1) of the day and the day before; null without requests. `change` is the ratio of the two shares. */
export interface RateFigure {
  value: number | null;
  previous: number | null;
  change: number | null;
}

export interface DailyTraffic {
  requests: Figure;
  /** Distinct client addresses (exact; each IPv6 address counts alone). */
  uniqueClients: Figure;
  /** Answered 500 or more. */
  serverErrors: Figure;
  serverErrorRate: RateFigure;
  /** Answered 400 to 499 (ipwatch's own 403s and 429s included: see blocked, rateLimited). */
  clientErrors: Figure;
  clientErrorRate: RateFigure;
  /** Refused by ipwatch's block list (403). */
  blocked: Figure;
  /** Refused by ipwatch's rate limits (429 or 403). */
  rateLimited: Figure;
}

/** One local hour of the day: 24 of them, 23 or 25 on a DST change (the repeated hour twice, same label). */
export interface DailyHour {
  /** Epoch ms of the bucket's start. */
  start: number;
  /** Local wall-clock time of the start, "HH:MM". */
  label: string;
  requests: number;
  /** Answered 400 to 599. */
  errors: number;
}

/** The figure of two counts. */
export function figure(value: number, previous: number): Figure {
  return { value, previous, change: previous === 0 ? null : (value - previous) / previous };
}

/** The share figure of two counts and their counts before. */
export function rate(part: number, whole: number, partBefore: number, wholeBefore: number): RateFigure {
  const value = whole === 0 ? null : part / whole;
  const previous = wholeBefore === 0 ? null : partBefore / wholeBefore;
  return { value, previous, change: value === null || previous === null || previous === 0 ? null : (value - previous) / previous };
}

export async function dailyReportTraffic(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<DailyTraffic> {
  const t = twoDays(scope);
  const both = (name: string, expr: string) => `${expr.replace('@', t.cur)} AS n_${name}, ${expr.replace('@', `NOT (${t.cur})`)} AS n_${name}_p`;
  const rs = await conn.client.query({
    query: `SELECT ${both('requests', 'countIf(@)')}, ${both('clients', 'uniqExactIf(ip, @)')},
                   ${both('e5', 'countIf(@ AND status >= 500)')}, ${both('e4', 'countIf(@ AND status BETWEEN 400 AND 499)')},
                   ${both('blocked', 'countIf(@ AND blocked)')}, ${both('limited', 'countIf(@ AND rate_limited)')}
            FROM requests WHERE ${t.where}`,
    query_params: t.params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const [r] = await rs.json<Record<string, number>>();
  const n = (k: string) => Number(r?.[`n_${k}`] ?? 0);
  return {
    requests: figure(n('requests'), n('requests_p')),
    uniqueClients: figure(n('clients'), n('clients_p')),
    serverErrors: figure(n('e5'), n('e5_p')),
    serverErrorRate: rate(n('e5'), n('requests'), n('e5_p'), n('requests_p')),
    clientErrors: figure(n('e4'), n('e4_p')),
    clientErrorRate: rate(n('e4'), n('requests'), n('e4_p'), n('requests_p')),
    blocked: figure(n('blocked'), n('blocked_p')),
    rateLimited: figure(n('limited'), n('limited_p')),
  };
}

export async function dailyReportHours(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<DailyHour[]> {
  const { since, until } = scope.day;
  // Buckets of real hours from local midnight: a DST day has 23 or 25 of them, and a zone half an hour off UTC stays on its own hours.
  const rs = await conn.client.query({
    query: `SELECT intDiv(toUnixTimestamp64Milli(ts) - {since:Int64}, ${HOUR}) AS bucket, count() AS requests, countIf(status BETWEEN 400 AND 599) AS errors
            FROM requests WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
            GROUP BY bucket`,
    query_params: { since, until },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const byBucket = new Map((await rs.json<{ bucket: number; requests: number; errors: number }>()).map((b) => [Number(b.bucket), b]));
  const hours: DailyHour[] = [];
  for (let i = 0, start = since; start < until; i++, start += HOUR) {
    const b = byBucket.get(i);
    hours.push({ start, label: localTime(start, scope.timeZone), requests: Number(b?.requests ?? 0), errors: Number(b?.errors ?? 0) });
  }
  return hours;
}
