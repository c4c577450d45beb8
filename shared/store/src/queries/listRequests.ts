/** The request log, newest first, filtered. Every value travels as a typed query parameter. */
import type { StoreConnection } from '../analytics.ts';
import type { RequestFilter } from './requestFilter.ts';

export interface RequestRow {
  ts: string;
  ip: string;
  method: string;
  host: string;
  path: string;
  status: number;
  latency_ms: number;
  bytes: number;
  user_agent: string;
  referer: string;
  user_id: string | null;
  authenticated: boolean;
  blocked: boolean;
  rate_limited: boolean;
  country: string;
  region: string;
  city: string;
  latitude: number | null;
  longitude: number | null;
  asn: number;
  org: string;
  app: string;
}

/** IPv4-mapped addresses are shown as plain IPv4. */
export const IP_TEXT_SQL = `if(startsWith(toString(ip), '::ffff:') AND position(toString(ip), '.') > 0, substring(toString(ip), 8), toString(ip))`;

export function whereClause(filter: Omit<RequestFilter, 'limit'>): { sql: string; params: Record<string, unknown> } {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.ipRange) {
    parts.push('ip BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6}');
    params.ipFrom = filter.ipRange.from;
    params.ipTo = filter.ipRange.to;
  }
  if (filter.pathContains !== undefined) {
    parts.push('positionCaseInsensitiveUTF8(path, {path:String}) > 0');
    params.path = filter.pathContains;
  }
  if (filter.status) {
    parts.push('status BETWEEN {statusFrom:UInt16} AND {statusTo:UInt16}');
    params.statusFrom = filter.status.from;
    params.statusTo = filter.status.to;
  }
  if (filter.country !== undefined) {
    parts.push('country = {country:String}');
    params.country = filter.country;
  }
  if (filter.instance !== undefined) {
    parts.push('instance = {instance:String}');
    params.instance = filter.instance;
  }
  if (filter.sinceMs !== undefined) {
    parts.push('ts >= fromUnixTimestamp64Milli({since:Int64})');
    params.since = filter.sinceMs;
  }
  if (filter.untilMs !== undefined) {
    parts.push('ts < fromUnixTimestamp64Milli({until:Int64})');
    params.until = filter.untilMs;
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

export async function listRequests(conn: Pick<StoreConnection, 'client'>, filter: RequestFilter): Promise<RequestRow[]> {
  const where = whereClause(filter);
  const rs = await conn.client.query({
    query: `SELECT formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS ts, ${IP_TEXT_SQL} AS ip, method, host, path, status, latency_ms, bytes,
                   user_agent, referer, user_id, authenticated, blocked, rate_limited, country, region, city, latitude, longitude, asn, org, app
            FROM requests ${where.sql}
            ORDER BY ts DESC
            LIMIT {limit:UInt32}`,
    query_params: { ...where.params, limit: filter.limit },
    format: 'JSONEachRow',
    // The output aliases ip and ts reuse column names; filters and ORDER BY mean the columns.
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0, prefer_column_name_to_alias: 1 },
  });
  return rs.json<RequestRow>();
}
