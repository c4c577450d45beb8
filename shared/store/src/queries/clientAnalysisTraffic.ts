/** One client's traffic over the analysed hours, in one pass: totals, status classes, first and last seen, latest geolocation, logins. */
import type { StoreConnection } from '../analytics.ts';
import { scopeWhere, NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

export interface ClientTraffic {
  requests: number;
  /** Of `requests`, those of the address asked about (the rest came from other addresses of its /64). */
  requestsFromAddress: number;
  /** Distinct addresses seen (1 for IPv4; for an IPv6 /64, how many of its addresses). */
  addresses: number;
  /** 4xx and 5xx answers. */
  errors: number;
  /** errors / requests; null without requests. */
  errorRate: number | null;
  statusClasses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** Answered 403 by ipwatch's block, or 429 by its rate limit, rather than by the app. */
  blocked: number;
  rateLimited: number;
  /** Epoch ms of the first and last request in the range; null without requests. */
  firstSeen: number | null;
  lastSeen: number | null;
}

export interface ClientGeo {
  country: string;
  region: string;
  city: string;
  asn: number;
  org: string;
  /** When the request this geolocation came with was made (epoch ms). */
  seenAt: number;
}

export interface ClientLoginCounts {
  failed: number;
  succeeded: number;
  /** Distinct usernames named in failed attempts. */
  distinctUsernames: number;
}

interface Row {
  requests: number;
  from_address: number;
  addresses: number;
  errors: number;
  c1: number;
  c2: number;
  c3: number;
  c4: number;
  c5: number;
  blocked: number;
  rate_limited: number;
  first_seen: number;
  last_seen: number;
  geo: [string, string, string, number, string, number];
  logins_failed: number;
  logins_succeeded: number;
  usernames: number;
}

export async function clientAnalysisTraffic(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<{ traffic: ClientTraffic; geo: ClientGeo | null; logins: ClientLoginCounts }> {
  const where = scopeWhere(scope);
  const rs = await conn.client.query({
    query: `SELECT count() AS requests, countIf(ip = {ipColumn:IPv6}) AS from_address, uniqExact(ip) AS addresses,
                   countIf(status BETWEEN 400 AND 599) AS errors,
                   countIf(intDiv(status, 100) = 1) AS c1, countIf(intDiv(status, 100) = 2) AS c2, countIf(intDiv(status, 100) = 3) AS c3,
                   countIf(intDiv(status, 100) = 4) AS c4, countIf(intDiv(status, 100) = 5) AS c5,
                   countIf(blocked) AS blocked, countIf(rate_limited) AS rate_limited,
                   toUnixTimestamp64Milli(min(ts)) AS first_seen, toUnixTimestamp64Milli(max(ts)) AS last_seen,
                   argMaxIf(tuple(country, region, city, asn, org, toUnixTimestamp64Milli(ts)), ts, country != '' OR asn != 0 OR org != '') AS geo,
                   countIf(login = 'failed') AS logins_failed, countIf(login = 'succeeded') AS logins_succeeded,
                   uniqExactIf(login_user, login = 'failed' AND login_user IS NOT NULL) AS usernames
            FROM requests WHERE ${where.sql}`,
    query_params: { ...where.params, ipColumn: scope.ipColumn },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const [r] = await rs.json<Row>();
  const requests = Number(r?.requests ?? 0);
  const errors = Number(r?.errors ?? 0);
  const seen = requests > 0 && r !== undefined;
  const [country, region, city, asn, org, geoAt] = r?.geo ?? ['', '', '', 0, '', 0];
  return {
    traffic: {
      requests,
      requestsFromAddress: Number(r?.from_address ?? 0),
      addresses: Number(r?.addresses ?? 0),
      errors,
      errorRate: requests > 0 ? errors / requests : null,
      statusClasses: { '1xx': Number(r?.c1 ?? 0), '2xx': Number(r?.c2 ?? 0), '3xx': Number(r?.c3 ?? 0), '4xx': Number(r?.c4 ?? 0), '5xx': Number(r?.c5 ?? 0) },
      blocked: Number(r?.blocked ?? 0),
      rateLimited: Number(r?.rate_limited ?? 0),
      firstSeen: seen ? Number(r.first_seen) : null,
      lastSeen: seen ? Number(r.last_seen) : null,
    },
    geo: Number(geoAt) > 0 ? { country, region, city, asn: Number(asn), org, seenAt: Number(geoAt) } : null,
    logins: { failed: Number(r?.logins_failed ?? 0), succeeded: Number(r?.logins_succeeded ?? 0), distinctUsernames: Number(r?.usernames ?? 0) },
  };
}
