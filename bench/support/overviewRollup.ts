/**
 * A proposal, timed by bench:queries beside the overview as it is: the overview's top lists
 * (clients, paths, user agents, networks) and its unique clients from migration 0009's hourly
 * sketches (requests_top_hourly) instead of a GROUP BY over every request of both ranges.
 * Whole hours come from the rollup; a range's partial first and last hours are sketched from
 * requests on the fly and merged with them, in one query for both ranges and every dimension.
 * Counts are the sketch's (Space-Saving: exact for the heavy hitters in practice, with an
 * error bound per key); a key outside the previous range's 100 heaviest has previous null.
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

/** Whole hours [h0, h1) inside [a, b), and the edges outside them (none when there are no whole hours: the range is all edge). */
function split(a: number, b: number): { h0: number; h1: number; edges: Array<[number, number]> } {
  const h0 = Math.ceil(a / HOUR) * HOUR;
  const h1 = Math.floor(b / HOUR) * HOUR;
  if (h1 <= h0) return { h0: 0, h1: 0, edges: [[a, b]] };
  return { h0, h1, edges: [[a, h0] as [number, number], [h1, b] as [number, number]].filter(([x, y]) => y > x) };
}

/**
 * The top `top` keys of each dimension over [sinceMs, untilMs), with the range of the same
 * length before it.
 *
 * @example
 * const t = await overviewTopFromRollup(conn, { sinceMs: until - 86_400_000, untilMs: until, top: 10 });
 * t.path[0]; // { key: '/', requests: 120000, previous: 115000, change: 0.043, error: 0 }
 */
export async function overviewTopFromRollup(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number; top: number }): Promise<RollupOverviewTop> {
  const prevSince = range.sinceMs - (range.untilMs - range.sinceMs);
  const cur = split(range.sinceMs, range.untilMs);
  const prev = split(prevSince, range.sinceMs);
  const params: Record<string, unknown> = { since: range.sinceMs, top: range.top, ch0: cur.h0 / 1000, ch1: cur.h1 / 1000, ph0: prev.h0 / 1000, ph1: prev.h1 / 1000 };
  const edges = [...cur.edges, ...prev.edges].map(([x, y], i) => {
    params[`e${i}a`] = x;
    params[`e${i}b`] = y;
    return `(ts >= fromUnixTimestamp64Milli({e${i}a:Int64}) AND ts < fromUnixTimestamp64Milli({e${i}b:Int64}))`;
  });
  const rs = await conn.client.query({
    query: `SELECT dimension, period, arraySlice(approx_top_countMerge(100, 1000)(s), 1, 100) AS heavy, uniqMerge(k) AS distinct_keys
            FROM (
              SELECT dimension, if(hour >= toDateTime({ch0:UInt32}), 'cur', 'prev') AS period, sketch AS s, keys AS k
              FROM requests_top_hourly
              WHERE (hour >= toDateTime({ch0:UInt32}) AND hour < toDateTime({ch1:UInt32})) OR (hour >= toDateTime({ph0:UInt32}) AND hour < toDateTime({ph1:UInt32}))
              ${edges.length ? `UNION ALL
              SELECT d.1 AS dimension, if(ts >= fromUnixTimestamp64Milli({since:Int64}), 'cur', 'prev') AS period,
                     approx_top_countState(100, 1000)(d.2) AS s, uniqState(d.2) AS k
              FROM requests
              ARRAY JOIN [('client', toString(ip)), ('path', path), ('user_agent', user_agent), ('asn', concat(toString(asn), ' ', org))] AS d
              WHERE ${edges.join(' OR ')}
              GROUP BY dimension, period` : ''}
            )
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
