/** How many requests the store holds (optionally filtered): the figure `ipwatch dev` reports as stored. */
import type { StoreConnection } from '../analytics.ts';
import type { RequestFilter } from './requestFilter.ts';
import { whereClause } from './listRequests.ts';

export async function countRequests(conn: Pick<StoreConnection, 'client'>, filter: Omit<RequestFilter, 'limit'> = {}): Promise<number> {
  const where = whereClause(filter);
  const rs = await conn.client.query({
    query: `SELECT count() AS n FROM requests ${where.sql}`,
    query_params: where.params,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const [row] = await rs.json<{ n: number }>();
  return Number(row?.n ?? 0);
}
