/**
 * Every stored request of a time range, oldest first, in chunks: what `ipwatch detect` feeds
 * the detection engine (the same engine the live scorer runs), so history is judged by the
 * rules exactly as the stream was. Only the fields the rules read are fetched.
 */
import type { StoreConnection } from '../analytics.ts';
import { IP_TEXT_SQL } from './listRequests.ts';

export interface ScannedRequest {
  ts: number;
  ip: string;
  ipAnonymisation: 'off' | 'truncate' | 'hash';
  method: string;
  path: string;
  status: number;
  userAgent: string;
  blocked: boolean;
  login: 'none' | 'failed' | 'succeeded';
  loginUser: string | null;
  country: string;
  asn: number;
  org: string;
}

export interface ScanRequestsQuery {
  sinceMs: number;
  untilMs: number;
  /** Rows per chunk (the range is walked by time, a chunk at a time). Default 50,000. */
  chunkRows?: number;
}

/** Calls `onRows` with each chunk in time order; resolves with the number of rows scanned. */
export async function scanRequests(conn: Pick<StoreConnection, 'client'>, query: ScanRequestsQuery, onRows: (rows: ScannedRequest[]) => void | Promise<void>): Promise<number> {
  const limit = query.chunkRows ?? 50_000;
  let after = query.sinceMs;
  let afterId = '';
  let total = 0;
  for (;;) {
    // Keyset pagination on (ts, event_id): stable however many rows share a millisecond.
    const rs = await conn.client.query({
      query: `SELECT toUnixTimestamp64Milli(ts) AS ts_ms, event_id, ${IP_TEXT_SQL} AS ip_text, ip_anonymisation, method, path, status, user_agent, blocked,
                     login, login_user, country, asn, org
              FROM requests
              WHERE (ts, event_id) > (fromUnixTimestamp64Milli({after:Int64}), {afterId:String})
                AND ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
              ORDER BY ts, event_id
              LIMIT {limit:UInt32}`,
      query_params: { after, afterId, since: query.sinceMs, until: query.untilMs, limit },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    const raw = await rs.json<{ ts_ms: number; event_id: string; ip_text: string; ip_anonymisation: string; method: string; path: string; status: number; user_agent: string; blocked: boolean; login: string; login_user: string | null; country: string; asn: number; org: string }>();
    if (raw.length === 0) return total;
    total += raw.length;
    const last = raw[raw.length - 1]!;
    after = last.ts_ms;
    afterId = last.event_id;
    await onRows(
      raw.map((r) => ({
        ts: Number(r.ts_ms),
        ip: r.ip_text,
        ipAnonymisation: r.ip_anonymisation as ScannedRequest['ipAnonymisation'],
        method: r.method,
        path: r.path,
        status: Number(r.status),
        userAgent: r.user_agent,
        blocked: Boolean(r.blocked),
        login: (r.login || 'none') as ScannedRequest['login'],
        loginUser: r.login_user,
        country: r.country,
        asn: Number(r.asn),
        org: r.org,
      })),
    );
    if (raw.length < limit) return total;
  }
}

/** Ids of the detections stored since a time: a backfill publishes only what is not there yet. */
export async function storedDetectionIds(conn: Pick<StoreConnection, 'client'>, sinceMs: number): Promise<Set<string>> {
  const rs = await conn.client.query({
    query: 'SELECT DISTINCT id FROM detections WHERE ts >= fromUnixTimestamp64Milli({since:Int64})',
    query_params: { since: sinceMs },
    format: 'JSONEachRow',
  });
  return new Set((await rs.json<{ id: string }>()).map((r) => r.id));
}
