/**
 * The overview's top lists from migration 0009's hourly heavy-hitter sketches
 * (requests_top_hourly: approx_top_count(100, 1000) per hour of clients, paths, user agents and
 * "<asn> <org>"), so that no list groups millions of requests: the range's and the previous
 * range's whole hours are merged from the sketches, their partial first and last hours are
 * sketched from requests on the fly (one query for both ranges and every list). Counts are
 * the sketch's: exact for the heavy hitters in practice (1,000 slots), each with its error
 * bound. A key missing from the previous range's sketch had 0 requests when that sketch holds
 * fewer than its 100 keys, and an unknown count (null) otherwise.
 * Timed with bench:queries (bench/support/overviewRollup.ts was this query's proposal).
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';

const HOUR = 3_600_000;
const SKETCH_KEYS = 100;

export type SketchDimension = 'client' | 'path' | 'user_agent' | 'asn';

/** A key's requests in the range, in the previous range (null: not known), the change, and the sketch's error bound (0: exact). */
export interface SketchCounted {
  requests: number;
  previous: number | null;
  change: number | null;
  error: number;
}

export interface SketchRow extends SketchCounted {
  key: string;
}

export interface SketchTops extends Record<SketchDimension, SketchRow[]> {
  /** Distinct clients of the range and of the previous range (the sketches' uniq states merged: exact up to tens of thousands, within about 1% beyond). */
  distinctClients: { value: number; previous: number };
}

/** Whole hours [h0, h1) inside [a, b) and the edges outside them (all edge when no whole hour fits). */
function split(a: number, b: number): { h0: number; h1: number; edges: Array<[number, number]> } {
  const h0 = Math.ceil(a / HOUR) * HOUR;
  const h1 = Math.floor(b / HOUR) * HOUR;
  if (h1 <= h0) return { h0: 0, h1: 0, edges: [[a, b]] };
  return { h0, h1, edges: ([[a, h0], [h1, b]] as Array<[number, number]>).filter(([x, y]) => y > x) };
}

/**
 * The top `top` keys of each list over [sinceMs, untilMs), with the range of the same length before it.
 *
 * @example
 * const t = await sketchTops(conn, { sinceMs: until - 86_400_000, untilMs: until, top: 10 });
 * t.path[0]; // { key: '/', requests: 120000, previous: 115000, change: 0.043, error: 0 }
 */
export async function sketchTops(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number; top: number }): Promise<SketchTops> {
  const prevSince = range.sinceMs - (range.untilMs - range.sinceMs);
  const cur = split(range.sinceMs, range.untilMs);
  const prev = split(prevSince, range.sinceMs);
  const params: Record<string, number> = { since: range.sinceMs, ch0: cur.h0 / 1000, ch1: cur.h1 / 1000, ph0: prev.h0 / 1000, ph1: prev.h1 / 1000 };
  const edges = [...cur.edges, ...prev.edges].map(([x, y], i) => {
    params[`e${i}a`] = x;
    params[`e${i}b`] = y;
    return `(ts >= fromUnixTimestamp64Milli({e${i}a:Int64}) AND ts < fromUnixTimestamp64Milli({e${i}b:Int64}))`;
  });
  const rs = await conn.client.query({
    query: `SELECT dimension, period, approx_top_countMerge(${SKETCH_KEYS}, 1000)(s) AS heavy, uniqMerge(k) AS distinct_keys
            FROM (
              SELECT dimension, if(hour >= toDateTime({ch0:UInt32}) AND {ch1:UInt32} > 0, 'cur', 'prev') AS period, sketch AS s, keys AS k
              FROM requests_top_hourly
              WHERE (hour >= toDateTime({ch0:UInt32}) AND hour < toDateTime({ch1:UInt32})) OR (hour >= toDateTime({ph0:UInt32}) AND hour < toDateTime({ph1:UInt32}))
              ${edges.length === 0 ? '' : `UNION ALL
              SELECT d.1 AS dimension, if(ts >= fromUnixTimestamp64Milli({since:Int64}), 'cur', 'prev') AS period, approx_top_countState(${SKETCH_KEYS}, 1000)(d.2) AS s, uniqStateIf(d.2, d.1 = 'client') AS k
              FROM requests
              ARRAY JOIN [('client', toString(ip)), ('path', path), ('user_agent', user_agent), ('asn', concat(toString(asn), ' ', org))] AS d
              WHERE ${edges.join(' OR ')}
              GROUP BY dimension, period`}
            )
            GROUP BY dimension, period`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const rows = await rs.json<{ dimension: string; period: 'cur' | 'prev'; heavy: Array<{ item: string; count: number; error: number }>; distinct_keys: number }>();
  const heavy = (dimension: SketchDimension, period: 'cur' | 'prev') => rows.find((r) => r.dimension === dimension && r.period === period)?.heavy ?? [];
  const list = (dimension: SketchDimension): SketchRow[] => {
    const before = heavy(dimension, 'prev');
    const complete = before.length < SKETCH_KEYS;
    const counts = new Map(before.map((h) => [h.item, Number(h.count)]));
    return heavy(dimension, 'cur')
      .map((h) => ({ key: h.item, requests: Number(h.count), error: Number(h.error) }))
      .sort((a, b) => b.requests - a.requests || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, range.top)
      .map((h) => {
        const previous = counts.get(h.key) ?? (complete ? 0 : null);
        return { ...h, previous, change: previous === null || previous === 0 ? null : (h.requests - previous) / previous };
      });
  };
  const distinct = (period: 'cur' | 'prev') => Number(rows.find((r) => r.dimension === 'client' && r.period === period)?.distinct_keys ?? 0);
  return { client: list('client'), path: list('path'), user_agent: list('user_agent'), asn: list('asn'), distinctClients: { value: distinct('cur'), previous: distinct('prev') } };
}
