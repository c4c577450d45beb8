/**
 * The overview's top lists, in two steps so that a long tail (millions of distinct paths)
 * is never grouped in full: ClickHouse's topK picks candidates (heavy hitters) from the
 * range, one pass for clients, paths and user agents together, then each list is counted
 * exactly for its candidates only, in the range and the one before it (the daily report's
 * `topBy`, restricted to the candidates). Counts are exact; the ranking can only miss a key
 * near the cut in a flat tail. Networks (a few thousand ASNs) are grouped exactly. Clients
 * are grouped by the raw address, and their geolocation is looked up for the top rows only.
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import { twoDays, type DailyReportScope as Scope } from './dailyReportRange.ts';
import { counted, topBy, type Counted } from './dailyReportTop.ts';

export interface OverviewClient extends Counted {
  /** The address as text: IPv4 bare. */
  ip: string;
  /** Its latest geolocation in the range ('' / 0 when unknown). */
  country: string;
  asn: number;
  org: string;
}

export interface OverviewPath extends Counted {
  path: string;
}

export interface OverviewAsn extends Counted {
  /** 0 for addresses without an ASN. */
  asn: number;
  org: string;
}

export interface OverviewUserAgent extends Counted {
  /** '' for requests that sent none. */
  userAgent: string;
}

/** The column's IPv6 text as people write it: IPv4-mapped addresses bare. */
export function ipText(stored: string): string {
  return stored.startsWith('::ffff:') && stored.includes('.') ? stored.slice(7) : stored;
}

/** Candidates per list: enough that the exact counts reorder them safely. */
const CANDIDATES_PER_ROW = 5;

export interface TopCandidates {
  ips: string[];
  paths: string[];
  userAgents: string[];
}

/** The heavy hitters of the range (not the one before): clients, paths and user agents in one pass. */
export async function topCandidates(conn: Pick<StoreConnection, 'client'>, scope: Scope): Promise<TopCandidates> {
  const rs = await conn.client.query({
    query: `SELECT topK({n:UInt32})(ip) AS ips, topK({n:UInt32})(path) AS paths, topK({n:UInt32})(user_agent) AS uas
            FROM requests WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})`,
    query_params: { n: Math.min(scope.top * CANDIDATES_PER_ROW, 500), since: scope.day.since, until: scope.day.until },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const [r] = await rs.json<{ ips: string[]; paths: string[]; uas: string[] }>();
  return { ips: r?.ips ?? [], paths: r?.paths ?? [], userAgents: r?.uas ?? [] };
}

/** `topBy` over the candidates only: exact counts of the range and the one before. */
async function topOf(conn: Pick<StoreConnection, 'client'>, scope: Scope, column: 'ip' | 'path' | 'user_agent', keys: string[]) {
  if (keys.length === 0) return [];
  const t = twoDays(scope);
  const rs = await conn.client.query({
    query: `SELECT ${column} AS key, countIf(${t.cur}) AS requests, countIf(NOT (${t.cur})) AS previous
            FROM requests WHERE ${t.where} AND ${column} IN {keys:Array(${column === 'ip' ? 'IPv6' : 'String'})}
            GROUP BY key HAVING requests > 0
            ORDER BY requests DESC, key LIMIT {top:UInt32}`,
    query_params: { ...t.params, keys, top: scope.top },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  return rs.json<{ key: string; requests: number; previous: number }>();
}

export async function overviewClients(conn: Pick<StoreConnection, 'client'>, scope: Scope, candidates: TopCandidates): Promise<OverviewClient[]> {
  const rows = await topOf(conn, scope, 'ip', candidates.ips);
  if (rows.length === 0) return [];
  const geo = await conn.client.query({
    query: `SELECT toString(ip) AS ip_text, argMax(tuple(country, asn, org), ts) AS geo
            FROM requests
            WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
              AND ip IN {ips:Array(IPv6)} AND (country != '' OR asn != 0 OR org != '')
            GROUP BY ip_text`,
    query_params: { since: scope.day.since, until: scope.day.until, ips: rows.map((r) => String(r.key)) },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const geoOf = new Map((await geo.json<{ ip_text: string; geo: [string, number, string] }>()).map((g) => [g.ip_text, g.geo]));
  return rows.map((r) => {
    const [country, asn, org] = geoOf.get(String(r.key)) ?? ['', 0, ''];
    return { ip: ipText(String(r.key)), ...counted(r), country: String(country), asn: Number(asn), org: String(org) };
  });
}

export async function overviewPaths(conn: Pick<StoreConnection, 'client'>, scope: Scope, candidates: TopCandidates): Promise<OverviewPath[]> {
  return (await topOf(conn, scope, 'path', candidates.paths)).map((r) => ({ path: String(r.key), ...counted(r) }));
}

export async function overviewAsns(conn: Pick<StoreConnection, 'client'>, scope: Scope): Promise<OverviewAsn[]> {
  return (await topBy(conn, scope, 'asn', 'any(org) AS org_name')).map((r) => ({ asn: Number(r.key), org: String(r.org_name ?? ''), ...counted(r) }));
}

export async function overviewUserAgents(conn: Pick<StoreConnection, 'client'>, scope: Scope, candidates: TopCandidates): Promise<OverviewUserAgent[]> {
  return (await topOf(conn, scope, 'user_agent', candidates.userAgents)).map((r) => ({ userAgent: String(r.key), ...counted(r) }));
}
