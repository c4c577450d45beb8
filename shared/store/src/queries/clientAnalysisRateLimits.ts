/** One client's rate-limit refusals over the analysed hours, by limit rule (rate_limit_events). */
import type { StoreConnection } from '../analytics.ts';
import { scopeWhere, NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

export interface ClientRateLimits {
  /** Requests refused (events fold many refusals: their counts summed). */
  refusals: number;
  /** Rate-limit events recorded. */
  events: number;
  byRule: Array<{ rule: string; refusals: number; events: number; limit: number; windowMs: number; first: number; last: number }>;
}

interface Row {
  rule: string;
  refusals: number;
  events: number;
  lim: number;
  window_ms: number;
  first: number;
  last: number;
}

export async function clientAnalysisRateLimits(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<ClientRateLimits> {
  const where = scopeWhere(scope);
  const rs = await conn.client.query({
    query: `SELECT rule, sum(count) AS refusals, count() AS events, max(\`limit\`) AS lim, max(window_ms) AS window_ms,
                   toUnixTimestamp64Milli(min(ts)) AS first, toUnixTimestamp64Milli(max(ts)) AS last
            FROM rate_limit_events WHERE ${where.sql}
            GROUP BY rule ORDER BY refusals DESC, rule`,
    query_params: where.params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const byRule = (await rs.json<Row>()).map((r) => ({
    rule: r.rule, refusals: Number(r.refusals), events: Number(r.events), limit: Number(r.lim), windowMs: Number(r.window_ms), first: Number(r.first), last: Number(r.last),
  }));
  return { refusals: byRule.reduce((s, r) => s + r.refusals, 0), events: byRule.reduce((s, r) => s + r.events, 0), byRule };
}
