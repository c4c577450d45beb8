/**
 * A daily report's top lists: clients, paths, countries, networks (ASN and /24, /48 for IPv6).
 * Each list is one pass over the day and the day before, ranked by the day's requests, so
 * every row carries its own count of the day before.
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import { twoDays, type DailyReportScope } from './dailyReportRange.ts';

/** The address as text: IPv4 bare (the column holds it IPv4-mapped). */
const IP_TEXT = `if(startsWith(toString(ip), '::ffff:') AND position(toString(ip), '.') > 0, substring(toString(ip), 8), toString(ip))`;
/** The client's network: its /24 (IPv4) or /48 (IPv6), as alerts name it. */
const NETWORK_TEXT = `if(startsWith(toString(ip), '::ffff:') AND position(toString(ip), '.') > 0,
  concat(substring(toString(IPv6CIDRToRange(ip, 120).1), 8), '/24'), concat(toString(IPv6CIDRToRange(ip, 48).1), '/48'))`;

/** Requests of the day, of the day before, and the change (null when the day before had none). */
export interface Counted {
  requests: number;
  previous: number;
  change: number | null;
}

export interface TopClient extends Counted {
  ip: string;
  /** Answered 400 to 599. */
  errors: number;
  /** The latest geolocation of the day ('' / 0 when unknown). */
  country: string;
  asn: number;
  org: string;
}

export interface TopPath extends Counted {
  path: string;
  errors: number;
  /** Distinct client addresses that asked for it. */
  clients: number;
}

export interface TopCountry extends Counted {
  /** ISO code; '' for addresses without a country (private, unknown). */
  country: string;
  clients: number;
}

export interface TopAsn extends Counted {
  /** 0 for addresses without an ASN. */
  asn: number;
  org: string;
  clients: number;
}

export interface TopPrefix extends Counted {
  /** e.g. 203.0.113.0/24 or 2001:db8:1::/48. */
  network: string;
  clients: number;
  country: string;
  asn: number;
  org: string;
}

export interface DailyTop {
  clients: TopClient[];
  paths: TopPath[];
  countries: TopCountry[];
  asns: TopAsn[];
  prefixes: TopPrefix[];
}

export type Row = Record<string, string | number> & { requests: number; previous: number };

/** One top list: `key` (an SQL expression) ranked by the scope's requests, with the previous range's count and `extra` columns. */
export async function topBy(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope, key: string, extra: string): Promise<Row[]> {
  const t = twoDays(scope);
  const rs = await conn.client.query({
    query: `SELECT ${key} AS key, countIf(${t.cur}) AS requests, countIf(NOT (${t.cur})) AS previous${extra ? `, ${extra}` : ''}
            FROM requests WHERE ${t.where}
            GROUP BY key HAVING requests > 0
            ORDER BY requests DESC, key LIMIT {top:UInt32}`,
    query_params: { ...t.params, top: scope.top },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  return rs.json<Row>();
}

export const counted = (r: Row): Counted => {
  const requests = Number(r.requests);
  const previous = Number(r.previous);
  return { requests, previous, change: previous === 0 ? null : (requests - previous) / previous };
};

/** The day's latest geolocation that had one (argMax over the day's rows only). */
const geoOf = (r: Row) => {
  const [country, asn, org] = (r.geo as unknown as [string, number, string] | undefined) ?? ['', 0, ''];
  return { country: String(country), asn: Number(asn), org: String(org) };
};
const figures = (scope: DailyReportScope) => {
  const cur = twoDays(scope).cur;
  return {
    errors: `countIf(${cur} AND status BETWEEN 400 AND 599) AS errors`,
    clients: `uniqExactIf(ip, ${cur}) AS clients`,
    geo: `argMaxIf(tuple(country, asn, org), ts, ${cur} AND (country != '' OR asn != 0 OR org != '')) AS geo`,
    org: `argMaxIf(org, ts, ${cur}) AS org_name`,
  };
};

/** Top clients of a scope (a day, or any range against the one before it: see rangeScope). */
export async function topClients(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<TopClient[]> {
  const f = figures(scope);
  return (await topBy(conn, scope, IP_TEXT, `${f.errors}, ${f.geo}`)).map((r) => ({ ip: String(r.key), ...counted(r), errors: Number(r.errors), ...geoOf(r) }));
}

export async function topPaths(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<TopPath[]> {
  const f = figures(scope);
  return (await topBy(conn, scope, 'path', `${f.errors}, ${f.clients}`)).map((r) => ({ path: String(r.key), ...counted(r), errors: Number(r.errors), clients: Number(r.clients) }));
}

export async function topCountries(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<TopCountry[]> {
  return (await topBy(conn, scope, 'toString(country)', figures(scope).clients)).map((r) => ({ country: String(r.key), ...counted(r), clients: Number(r.clients) }));
}

export async function topAsns(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<TopAsn[]> {
  const f = figures(scope);
  return (await topBy(conn, scope, 'asn', `${f.clients}, ${f.org}`)).map((r) => ({ asn: Number(r.key), org: String(r.org_name ?? ''), ...counted(r), clients: Number(r.clients) }));
}

export async function topPrefixes(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<TopPrefix[]> {
  const f = figures(scope);
  return (await topBy(conn, scope, NETWORK_TEXT, `${f.clients}, ${f.geo}`)).map((r) => ({ network: String(r.key), ...counted(r), clients: Number(r.clients), ...geoOf(r) }));
}

export async function dailyReportTop(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<DailyTop> {
  // One after another: chDB runs one query at a time anyway.
  const clients = await topClients(conn, scope);
  const paths = await topPaths(conn, scope);
  const countries = await topCountries(conn, scope);
  const asns = await topAsns(conn, scope);
  const prefixes = await topPrefixes(conn, scope);
  return { clients, paths, countries, asns, prefixes };
}
