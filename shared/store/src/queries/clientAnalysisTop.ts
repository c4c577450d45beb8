/** One client's user agents (10) and the usernames of its failed logins (20), with counts, in one query (its top paths come with clientAnalysisPaths). */
import type { StoreConnection } from '../analytics.ts';
import { scopeWhere, NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

export const TOP_USER_AGENTS = 10;
export const TOP_USERNAMES = 20;

export interface ClientTop {
  userAgents: Array<{ userAgent: string; requests: number }>;
  /** Usernames named in failed login attempts, most tried first. */
  usernames: Array<{ username: string; failed: number }>;
}

interface Row {
  kind: 'ua' | 'user';
  value: string;
  requests: number;
  errors: number;
}

export async function clientAnalysisTop(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<ClientTop> {
  const where = scopeWhere(scope);
  const errors = 'countIf(status BETWEEN 400 AND 599)';
  const rs = await conn.client.query({
    query: `(SELECT 'ua' AS kind, user_agent AS value, count() AS requests, ${errors} AS errors FROM requests WHERE ${where.sql}
             GROUP BY value ORDER BY requests DESC, value LIMIT ${TOP_USER_AGENTS})
            UNION ALL
            (SELECT 'user' AS kind, assumeNotNull(login_user) AS value, count() AS requests, count() AS errors FROM requests
             WHERE ${where.sql} AND login = 'failed' AND login_user IS NOT NULL
             GROUP BY value ORDER BY requests DESC, value LIMIT ${TOP_USERNAMES})`,
    query_params: where.params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const rows = await rs.json<Row>();
  const byCount = (a: { n: number; v: string }, b: { n: number; v: string }) => b.n - a.n || (a.v < b.v ? -1 : a.v > b.v ? 1 : 0);
  const of = (kind: Row['kind']) => rows.filter((r) => r.kind === kind).map((r) => ({ v: r.value, n: Number(r.requests), e: Number(r.errors) })).sort(byCount);
  return {
    userAgents: of('ua').map((r) => ({ userAgent: r.v, requests: r.n })),
    usernames: of('user').map((r) => ({ username: r.v, failed: r.n })),
  };
}
