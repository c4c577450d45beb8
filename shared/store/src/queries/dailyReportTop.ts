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
interface Counted {
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

type Row = Record<string, string | number> & { requests: number; previous: number };

async function topBy(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope, key: string, extra: string): Promise<Row[]> {
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

const counted = (r: Row): Counted => {
  const requests = Number(r.requests);
  const previous = Number(r.previous);
  return { requests, previous, change: previous === 0 ? null : (requests - previous) / previous };
};

export async function dailyReportTop(conn: Pick<StoreConnection, 'client'>, scope: DailyReportScope): Promise<DailyTop> {
  const cur = twoDays(scope).cur;
  const errors = `countIf(${cur} AND status BETWEEN 400 AND 599) AS errors`;
  const clients = `uniqExactIf(ip, ${cur}) AS clients`;
  // The day's latest geolocation that had one (argMax over the day's rows only).
  const geo = `argMaxIf(tuple(country, asn, org), ts, ${cur} AND (country != '' OR asn != 0 OR org != '')) AS geo`;
  const geoOf = (r: Row) => {
    const [country, asn, org] = (r.geo as unknown as [string, number, string] | undefined) ?? ['', 0, ''];
    return { country: String(country), asn: Number(asn), org: String(org) };
  };
  // One after another: chDB runs one query at a time anyway.
  const clientRows = await topBy(conn, scope, IP_TEXT, `${errors}, ${geo}`);
  const pathRows = await topBy(conn, scope, 'path', `${errors}, ${clients}`);
  const countryRows = await topBy(conn, scope, 'toString(country)', clients);
  const asnRows = await topBy(conn, scope, 'asn', `${clients}, argMaxIf(org, ts, ${cur}) AS org_name`);
  const prefixRows = await topBy(conn, scope, NETWORK_TEXT, `${clients}, ${geo}`);
  return {
    clients: clientRows.map((r) => ({ ip: String(r.key), ...counted(r), errors: Number(r.errors), ...geoOf(r) })),
    paths: pathRows.map((r) => ({ path: String(r.key), ...counted(r), errors: Number(r.errors), clients: Number(r.clients) })),
    countries: countryRows.map((r) => ({ country: String(r.key), ...counted(r), clients: Number(r.clients) })),
    asns: asnRows.map((r) => ({ asn: Number(r.key), org: String(r.org_name ?? ''), ...counted(r), clients: Number(r.clients) })),
    prefixes: prefixRows.map((r) => ({ network: String(r.key), ...counted(r), clients: Number(r.clients), ...geoOf(r) })),
  };
}
