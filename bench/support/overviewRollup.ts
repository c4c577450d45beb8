/**
 * A proposal, timed by bench:queries beside the overview as it is: the overview's top lists
 * (clients, paths, user agents, networks) and its unique clients from migration 0009's hourly
 * sketches (requests_top_hourly) instead of a GROUP BY over every request of both ranges.
 * Whole hours come from the rollup; a range's partial first and last hours are sketched from
 * requests on the fly (or, with `fiveMinutes`, from migration 0010's five-minute sketches,
 * leaving only a few minutes to read) and merged with them, in one query for both ranges and every dimension.
 * Counts are the sketch's (Space-Saving: exact for the heavy hitters in practice, with an
 * error bound per key); a key outside the previous range's 100 heaviest has previous null.
 * Also the other two changes the bench times in its proposed overview: the top clients'
 * geolocation from their last hour first, and the headline counts and series from the
 * per-minute rollup alone (rate_limited added to it by migration 0011).
 */
import type { StoreConnection } from '@ipwatch/store';

const HOUR = 3_600_000;
const SETTINGS = { output_format_json_quote_64bit_integers: 0 } as const;

export interface RollupTopRow {
  key: string;
  requests: number;
  /** The previous range's count; null when the key was not among its sketched heavy hitters. */
  previous: number | null;
  change: number | null;
  /** The sketch's error bound on `requests` (0: exact). */
  error: number;
}

export interface RollupOverviewTop {
  uniqueClients: { value: number; previous: number };
  client: RollupTopRow[];
  path: RollupTopRow[];
  user_agent: RollupTopRow[];
  asn: RollupTopRow[];
}

const FIVE = 300_000;

type Source = 'hour' | 'five' | 'raw';
interface Segment {
  source: Source;
  from: number;
  to: number;
}

/**
 * [a, b) cut into whole hours (the hourly sketches), then, when `fiveMinutes`, whole five
 * minutes of the partial hours (the five-minute sketches), then the rest (requests).
 */
function segments(a: number, b: number, fiveMinutes: boolean): Segment[] {
  const out: Segment[] = [];
  const finer = (x: number, y: number) => {
    if (y <= x) return;
    const f0 = Math.ceil(x / FIVE) * FIVE;
    const f1 = Math.floor(y / FIVE) * FIVE;
    if (!fiveMinutes || f1 <= f0) {
      out.push({ source: 'raw', from: x, to: y });
      return;
    }
    if (f0 > x) out.push({ source: 'raw', from: x, to: f0 });
    out.push({ source: 'five', from: f0, to: f1 });
    if (y > f1) out.push({ source: 'raw', from: f1, to: y });
  };
  const h0 = Math.ceil(a / HOUR) * HOUR;
  const h1 = Math.floor(b / HOUR) * HOUR;
  if (h1 <= h0) {
    finer(a, b);
    return out;
  }
  finer(a, h0);
  out.push({ source: 'hour', from: h0, to: h1 });
  finer(h1, b);
  return out;
}

/**
 * The top `top` keys of each dimension over [sinceMs, untilMs), with the range of the same
 * length before it.
 *
 * @example
 * const t = await overviewTopFromRollup(conn, { sinceMs: until - 86_400_000, untilMs: until, top: 10 });
 * t.path[0]; // { key: '/', requests: 120000, previous: 115000, change: 0.043, error: 0 }
 */
export async function overviewTopFromRollup(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number; top: number; fiveMinutes?: boolean }): Promise<RollupOverviewTop> {
  const prevSince = range.sinceMs - (range.untilMs - range.sinceMs);
  const all = [...segments(prevSince, range.sinceMs, range.fiveMinutes === true), ...segments(range.sinceMs, range.untilMs, range.fiveMinutes === true)];
  const params: Record<string, unknown> = { since: range.sinceMs };
  const where = (source: Source, column: string, toValue: (ms: number) => string) =>
    all
      .filter((g) => g.source === source)
      .map((g, i) => {
        params[`${source}${i}a`] = g.from;
        params[`${source}${i}b`] = g.to;
        return `(${column} >= ${toValue(g.from).replace('@', `${source}${i}a`)} AND ${column} < ${toValue(g.to).replace('@', `${source}${i}b`)})`;
      })
      .join(' OR ');
  const ms = () => 'fromUnixTimestamp64Milli({@:Int64})';
  const secs = () => 'toDateTime(intDiv({@:Int64}, 1000))';
  const parts: string[] = [];
  const hours = where('hour', 'hour', secs);
  if (hours) parts.push(`SELECT dimension, if(hour >= ${secs().replace('@', 'since')}, 'cur', 'prev') AS period, sketch AS s, keys AS k FROM requests_top_hourly WHERE ${hours}`);
  const fives = where('five', 'bucket', secs);
  if (fives) parts.push(`SELECT dimension, if(bucket >= ${secs().replace('@', 'since')}, 'cur', 'prev') AS period, sketch AS s, keys AS k FROM requests_top_5min WHERE ${fives}`);
  const raw = where('raw', 'ts', ms);
  if (raw) {
    parts.push(`SELECT d.1 AS dimension, if(ts >= ${ms().replace('@', 'since')}, 'cur', 'prev') AS period, approx_top_countState(100, 1000)(d.2) AS s, uniqState(d.2) AS k
      FROM requests
      ARRAY JOIN [('client', toString(ip)), ('path', path), ('user_agent', user_agent), ('asn', concat(toString(asn), ' ', org))] AS d
      WHERE ${raw}
      GROUP BY dimension, period`);
  }
  const rs = await conn.client.query({
    query: `SELECT dimension, period, arraySlice(approx_top_countMerge(100, 1000)(s), 1, 100) AS heavy, uniqMerge(k) AS distinct_keys
            FROM (${parts.join(' UNION ALL ')})
            GROUP BY dimension, period`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: SETTINGS,
  });
  const rows = await rs.json<{ dimension: string; period: 'cur' | 'prev'; heavy: Array<{ item: string; count: number; error: number }>; distinct_keys: number }>();
  const of = (dimension: string, period: 'cur' | 'prev') => rows.find((r) => r.dimension === dimension && r.period === period);
  const list = (dimension: string): RollupTopRow[] => {
    const before = new Map((of(dimension, 'prev')?.heavy ?? []).map((h) => [h.item, Number(h.count)]));
    return (of(dimension, 'cur')?.heavy ?? []).slice(0, range.top).map((h) => {
      const previous = before.get(h.item) ?? null;
      const requests = Number(h.count);
      return { key: h.item, requests, previous, change: previous === null || previous === 0 ? null : (requests - previous) / previous, error: Number(h.error) };
    });
  };
  return {
    uniqueClients: { value: Number(of('client', 'cur')?.distinct_keys ?? 0), previous: Number(of('client', 'prev')?.distinct_keys ?? 0) },
    client: list('client'),
    path: list('path'),
    user_agent: list('user_agent'),
    asn: list('asn'),
  };
}

/**
 * The latest geolocation of each of a few addresses (the column's text) in [sinceMs, untilMs),
 * looked for in the range's last hour first (through 0008's by-client projection: a top client
 * is nearly always there), then in the whole range for those not found.
 *
 * @example
 * const geo = await latestGeolocations(conn, { sinceMs, untilMs }, ['::ffff:203.0.113.7']);
 * geo.get('::ffff:203.0.113.7'); // ['FR', 16276, 'OVH SAS']
 */
export async function latestGeolocations(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number }, ips: string[]): Promise<Map<string, [string, number, string]>> {
  const found = new Map<string, [string, number, string]>();
  const lookup = async (since: number, wanted: string[]) => {
    if (wanted.length === 0) return;
    const rs = await conn.client.query({
      query: `SELECT toString(ip) AS ip_text, argMax(tuple(country, asn, org), ts) AS geo
              FROM requests
              WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
                AND ip IN {ips:Array(IPv6)} AND (country != '' OR asn != 0 OR org != '')
              GROUP BY ip_text`,
      query_params: { since, until: range.untilMs, ips: wanted },
      format: 'JSONEachRow',
      clickhouse_settings: SETTINGS,
    });
    for (const g of await rs.json<{ ip_text: string; geo: [string, number, string] }>()) found.set(g.ip_text, g.geo);
  };
  await lookup(Math.max(range.sinceMs, range.untilMs - HOUR), ips);
  await lookup(range.sinceMs, ips.filter((ip) => !found.has(ip)));
  return found;
}

/**
 * The overview's headline counts for [sinceMs, untilMs) and the range before it, and its series,
 * from the per-minute rollup alone (rate_limited in it since migration 0011): overviewTraffic
 * and overviewSeries of the store read the flag from requests instead. Both queries as a
 * proposal's timing; the figures are the same sums. Aliases are n_*: an alias named like a
 * column (requests, blocked) would be seen inside the other aggregates.
 */
export async function trafficAndSeriesFromRollup(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number; bucketMs: number }): Promise<{ totals: Record<string, number>; series: Array<Record<string, number>> }> {
  const params = { prevSince: range.sinceMs - (range.untilMs - range.sinceMs), since: range.sinceMs, until: range.untilMs, bucket: range.bucketMs, seriesSince: Math.floor(range.sinceMs / range.bucketMs) * range.bucketMs };
  const cur = 'minute >= toDateTime(intDiv({since:Int64}, 1000))';
  const totals = await conn.client.query({
    query: `SELECT sumIf(requests, ${cur}) AS n_requests, sumIf(requests, NOT (${cur})) AS n_requests_p,
                   sumIf(requests, ${cur} AND status_class >= 5) AS n_e5, sumIf(requests, NOT (${cur}) AND status_class >= 5) AS n_e5_p,
                   sumIf(requests, ${cur} AND status_class = 4) AS n_e4, sumIf(requests, NOT (${cur}) AND status_class = 4) AS n_e4_p,
                   sumIf(blocked, ${cur}) AS n_blocked, sumIf(blocked, NOT (${cur})) AS n_blocked_p,
                   sumIf(rate_limited, ${cur}) AS n_limited, sumIf(rate_limited, NOT (${cur})) AS n_limited_p
            FROM requests_per_minute
            WHERE minute >= toDateTime(intDiv({prevSince:Int64}, 1000)) AND minute < toDateTime(intDiv({until:Int64}, 1000))`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: SETTINGS,
  });
  const series = await conn.client.query({
    query: `SELECT intDiv(toUnixTimestamp(minute) * 1000, {bucket:Int64}) * {bucket:Int64} AS start, sum(requests) AS n_requests,
                   sumIf(requests, status_class >= 5) AS n_e5, sumIf(requests, status_class = 4) AS n_e4, sum(blocked) AS n_blocked, sum(rate_limited) AS n_limited
            FROM requests_per_minute
            WHERE minute >= toDateTime(intDiv({seriesSince:Int64}, 1000)) AND minute < toDateTime(intDiv({until:Int64}, 1000))
            GROUP BY start ORDER BY start`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: SETTINGS,
  });
  return { totals: (await totals.json<Record<string, number>>())[0] ?? {}, series: await series.json<Record<string, number>>() };
}
