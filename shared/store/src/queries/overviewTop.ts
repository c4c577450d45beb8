/**
 * The overview's top lists: the daily report's `topBy` (one pass over the range and the one
 * before it), keyed on the stored columns as they are and with no per-key distinct counts,
 * which over millions of rows and a long tail of paths cost more than the rest of the page.
 * Clients are grouped by the raw address and their geolocation is looked up for the top rows only.
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import type { DailyReportScope } from './dailyReportRange.ts';
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

export async function overviewClients(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<OverviewClient[]> {
  const rows = await topBy(conn, scope, 'ip', '');
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

export async function overviewPaths(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<OverviewPath[]> {
  return (await topBy(conn, scope, 'path', '')).map((r) => ({ path: String(r.key), ...counted(r) }));
}

export async function overviewAsns(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<OverviewAsn[]> {
  return (await topBy(conn, scope, 'asn', 'any(org) AS org_name')).map((r) => ({ asn: Number(r.key), org: String(r.org_name ?? ''), ...counted(r) }));
}

export async function overviewUserAgents(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<OverviewUserAgent[]> {
  return (await topBy(conn, scope, 'user_agent', '')).map((r) => ({ userAgent: String(r.key), ...counted(r) }));
}
