/**
 * Rate-limit refusals (rate_limit_events), newest first, filtered by client and limit rule
 * over a time range, with the refusals per rule over the same range: the dashboard's
 * rate-limits page.
 */
import type { StoreConnection } from '../analytics.ts';
import { IP_TEXT_SQL } from './listRequests.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';

export interface ListRateLimitEventsQuery {
  /** Inclusive range of the ip column (an IP or a CIDR: requestFilter's ipColumnRange). */
  ip?: { from: string; to: string };
  rule?: string;
  sinceMs?: number;
  untilMs?: number;
  /** Events listed: default 100. */
  limit?: number;
}

export interface RateLimitEventRow {
  ts: number;
  ip: string;
  rule: string;
  limitKey: string;
  limit: number;
  windowMs: number;
  /** Requests refused by this event (an event folds the refusals of one window). */
  count: number;
  path: string;
  userId: string | null;
  app: string;
}

export interface RateLimitEvents {
  rows: RateLimitEventRow[];
  /** Over the whole range and filter, not only the rows listed; most refusals first. */
  byRule: Array<{ rule: string; refusals: number; events: number; clients: number }>;
}

interface Row {
  ts_ms: number;
  ip_text: string;
  rule: string;
  limit_key: string;
  lim: number;
  window_ms: number;
  count: number;
  path: string;
  user_id: string | null;
  app: string;
}

/**
 * @example
 * const { rows, byRule } = await listRateLimitEvents(conn, { rule: 'login', sinceMs: now - 86_400_000 });
 */
export async function listRateLimitEvents(conn: Pick<StoreConnection, 'client'>, query: ListRateLimitEventsQuery): Promise<RateLimitEvents> {
  const parts: string[] = [];
  const params: Record<string, unknown> = { limit: query.limit ?? 100 };
  if (query.ip) {
    parts.push('ip BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6}');
    Object.assign(params, { ipFrom: query.ip.from, ipTo: query.ip.to });
  }
  if (query.rule !== undefined) {
    parts.push('rule = {rule:String}');
    params.rule = query.rule;
  }
  if (query.sinceMs !== undefined) {
    parts.push('ts >= fromUnixTimestamp64Milli({since:Int64})');
    params.since = query.sinceMs;
  }
  if (query.untilMs !== undefined) {
    parts.push('ts < fromUnixTimestamp64Milli({until:Int64})');
    params.until = query.untilMs;
  }
  const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
  const [listed, summed] = await Promise.all([
    conn.client.query({
      query: `SELECT toUnixTimestamp64Milli(ts) AS ts_ms, ${IP_TEXT_SQL} AS ip_text, rule, limit_key, \`limit\` AS lim, window_ms, count, path, user_id, app
              FROM rate_limit_events ${where} ORDER BY ts DESC LIMIT {limit:UInt32}`,
      query_params: params,
      format: 'JSONEachRow',
      clickhouse_settings: NUMBER_SETTINGS,
    }),
    conn.client.query({
      query: `SELECT rule, sum(count) AS refusals, count() AS events, uniq(ip) AS clients FROM rate_limit_events ${where}
              GROUP BY rule ORDER BY refusals DESC, rule`,
      query_params: params,
      format: 'JSONEachRow',
      clickhouse_settings: NUMBER_SETTINGS,
    }),
  ]);
  const rows = (await listed.json<Row>()).map((r) => ({
    ts: Number(r.ts_ms), ip: r.ip_text, rule: r.rule, limitKey: r.limit_key, limit: Number(r.lim), windowMs: Number(r.window_ms),
    count: Number(r.count), path: r.path, userId: r.user_id, app: r.app,
  }));
  const byRule = (await summed.json<{ rule: string; refusals: number; events: number; clients: number }>()).map((r) => ({
    rule: r.rule, refusals: Number(r.refusals), events: Number(r.events), clients: Number(r.clients),
  }));
  return { rows, byRule };
}
