/**
 * The overview's time series and countries, from the per-minute rollup (migration 0002's
 * requests_per_minute: far fewer rows than requests): requests, 5xx, 4xx, blocked and
 * rate-limited (migration 0011) per bucket, and requests per country for the map; requests is
 * never read. The headline counts come from the rollup likewise (distinct clients aside: the
 * caller has them from the sketches, far fewer states to merge). The rollup counts whole
 * minutes: a range on minute boundaries (as the overview's are) is counted exactly.
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import type { Counted } from './dailyReportTop.ts';
import { figure, rate, type DailyTraffic } from './dailyReportTraffic.ts';

/**
 * The overview's queries' settings: numbers as JSON numbers, and no JIT compilation of their
 * expressions. ClickHouse compiles an expression once it has met it 3 times: 155 ms for these
 * queries, paid by the 4th load (357 ms against 200 on 10 million rows, bench:queries), for no
 * gain after it (200 ms either way); and the queries change as the range moves (the parts
 * read from each rollup), so it may be paid again.
 */
export const OVERVIEW_SETTINGS = { ...NUMBER_SETTINGS, compile_expressions: 0, compile_aggregate_expressions: 0 } as const;

/** One bucket of the series. */
export interface OverviewBucket {
  /** Epoch ms of the bucket's start (a multiple of the bucket's length; the first may start before the range). */
  start: number;
  requests: number;
  /** Answered 500 or more. */
  serverErrors: number;
  /** Answered 400 to 499. */
  clientErrors: number;
  /** Refused by the block list. */
  blocked: number;
  /** Refused by a rate limit. */
  rateLimited: number;
}

export interface OverviewCountry extends Counted {
  /** ISO 3166-1 alpha-2; '' for addresses without a country. */
  country: string;
}

export interface SeriesRange {
  sinceMs: number;
  untilMs: number;
  bucketMs: number;
}

/**
 * Requests, errors, blocked and rate-limited per bucket over [sinceMs, untilMs): every bucket
 * listed, empty ones as zeros.
 *
 * @example
 * await overviewSeries(conn, { sinceMs, untilMs: sinceMs + 3_600_000, bucketMs: 60_000 }); // 60 buckets
 */
export async function overviewSeries(conn: Pick<StoreConnection, 'client'>, range: SeriesRange): Promise<OverviewBucket[]> {
  const { sinceMs, untilMs, bucketMs } = range;
  const params = { since: sinceMs, until: untilMs, bucket: bucketMs };
  // n_* aliases: an alias named like a column (requests, blocked) would be seen inside the other aggregates.
  const rs = await conn.client.query({
    query: `SELECT intDiv(toUnixTimestamp(minute) * 1000, {bucket:Int64}) * {bucket:Int64} AS start, sum(requests) AS n_requests,
                   sumIf(requests, status_class >= 5) AS n_e5, sumIf(requests, status_class = 4) AS n_e4, sum(blocked) AS n_blocked, sum(rate_limited) AS n_limited
            FROM requests_per_minute
            WHERE minute >= toDateTime(intDiv({since:Int64}, 1000)) AND minute < toDateTime(intDiv({until:Int64}, 1000))
            GROUP BY start`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: OVERVIEW_SETTINGS,
  });
  const byStart = new Map((await rs.json<{ start: number; n_requests: number; n_e5: number; n_e4: number; n_blocked: number; n_limited: number }>()).map((r) => [Number(r.start), r]));
  const buckets: OverviewBucket[] = [];
  for (let start = Math.floor(sinceMs / bucketMs) * bucketMs; start < untilMs; start += bucketMs) {
    const r = byStart.get(start);
    buckets.push({ start, requests: Number(r?.n_requests ?? 0), serverErrors: Number(r?.n_e5 ?? 0), clientErrors: Number(r?.n_e4 ?? 0), blocked: Number(r?.n_blocked ?? 0), rateLimited: Number(r?.n_limited ?? 0) });
  }
  return buckets;
}

/**
 * Requests per country over [sinceMs, untilMs) and over the range of the same length before
 * it, every country of either (the map needs them all, at most about 250), most requests first.
 */
export async function overviewCountries(conn: Pick<StoreConnection, 'client'>, range: Omit<SeriesRange, 'bucketMs'>): Promise<OverviewCountry[]> {
  const prevSince = range.sinceMs - (range.untilMs - range.sinceMs);
  const rs = await conn.client.query({
    query: `SELECT toString(country) AS country,
                   sumIf(requests, minute >= toDateTime(intDiv({since:Int64}, 1000))) AS n_requests,
                   sumIf(requests, minute < toDateTime(intDiv({since:Int64}, 1000))) AS n_previous
            FROM requests_per_minute
            WHERE minute >= toDateTime(intDiv({prevSince:Int64}, 1000)) AND minute < toDateTime(intDiv({until:Int64}, 1000))
            GROUP BY country ORDER BY n_requests DESC, n_previous DESC, country`,
    query_params: { prevSince, since: range.sinceMs, until: range.untilMs },
    format: 'JSONEachRow',
    clickhouse_settings: OVERVIEW_SETTINGS,
  });
  return (await rs.json<{ country: string; n_requests: number; n_previous: number }>()).map((r) => {
    const requests = Number(r.n_requests);
    const previous = Number(r.n_previous);
    return { country: r.country, requests, previous, change: previous === 0 ? null : (requests - previous) / previous };
  });
}

/**
 * The daily report's headline figures (DailyTraffic, but for uniqueClients) for [sinceMs,
 * untilMs) and the range of the same length before it, from the rollup alone (rate_limited in
 * it since migration 0011).
 *
 * @example
 * (await overviewTraffic(conn, { sinceMs, untilMs })).requests; // { value: 8, previous: 3, change: 1.67 }
 */
export async function overviewTraffic(conn: Pick<StoreConnection, 'client'>, range: Omit<SeriesRange, 'bucketMs'>): Promise<Omit<DailyTraffic, 'uniqueClients'>> {
  const params = { prevSince: range.sinceMs - (range.untilMs - range.sinceMs), since: range.sinceMs, until: range.untilMs };
  const cur = 'minute >= toDateTime(intDiv({since:Int64}, 1000))';
  const both = (name: string, fn: string, arg: string, cond = '') =>
    `${fn}(${arg}, ${cur}${cond}) AS n_${name}, ${fn}(${arg}, NOT (${cur})${cond}) AS n_${name}_p`;
  const rolled = await conn.client.query({
    query: `SELECT ${both('requests', 'sumIf', 'requests')}, ${both('e5', 'sumIf', 'requests', ' AND status_class >= 5')}, ${both('e4', 'sumIf', 'requests', ' AND status_class = 4')},
                   ${both('blocked', 'sumIf', 'blocked')}, ${both('limited', 'sumIf', 'rate_limited')}
            FROM requests_per_minute
            WHERE minute >= toDateTime(intDiv({prevSince:Int64}, 1000)) AND minute < toDateTime(intDiv({until:Int64}, 1000))`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: OVERVIEW_SETTINGS,
  });
  const r = (await rolled.json<Record<string, number>>())[0] ?? {};
  const n = (k: string) => Number(r[`n_${k}`] ?? 0);
  return {
    requests: figure(n('requests'), n('requests_p')),
    serverErrors: figure(n('e5'), n('e5_p')),
    serverErrorRate: rate(n('e5'), n('requests'), n('e5_p'), n('requests_p')),
    clientErrors: figure(n('e4'), n('e4_p')),
    clientErrorRate: rate(n('e4'), n('requests'), n('e4_p'), n('requests_p')),
    blocked: figure(n('blocked'), n('blocked_p')),
    rateLimited: figure(n('limited'), n('limited_p')),
  };
}
