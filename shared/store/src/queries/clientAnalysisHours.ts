/** One client's requests per clock hour of the analysed range: every hour, those without requests as zeros. */
import type { StoreConnection } from '../analytics.ts';
import { scopeWhere, NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

const HOUR = 3_600_000;

export interface ClientHour {
  /** Start of the hour, epoch ms (UTC). */
  hour: number;
  requests: number;
  /** 4xx and 5xx answers. */
  errors: number;
}

export async function clientAnalysisHours(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<ClientHour[]> {
  const where = scopeWhere(scope);
  const rs = await conn.client.query({
    query: `SELECT intDiv(toUnixTimestamp64Milli(ts), ${HOUR}) * ${HOUR} AS hour, count() AS requests, countIf(status BETWEEN 400 AND 599) AS errors
            FROM requests WHERE ${where.sql}
            GROUP BY hour`,
    query_params: where.params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const byHour = new Map((await rs.json<ClientHour>()).map((h) => [Number(h.hour), h]));
  // The zeros are filled here rather than by WITH FILL: the range is the caller's, whatever rows exist.
  const hours: ClientHour[] = [];
  for (let t = scope.since; t < scope.until; t += HOUR) {
    const h = byHour.get(t);
    hours.push({ hour: t, requests: Number(h?.requests ?? 0), errors: Number(h?.errors ?? 0) });
  }
  return hours;
}
