/** How many migrations the ledger says were applied; 0 when there is no ledger yet (a new store). */
import type { StoreConnection } from '../analytics.ts';

export async function countAppliedMigrations(conn: Pick<StoreConnection, 'client'>): Promise<number> {
  const settings = { output_format_json_quote_64bit_integers: 0 } as const;
  const exists = await conn.client.query({ query: "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'", format: 'JSONEachRow', clickhouse_settings: settings });
  if (Number((await exists.json<{ n: number }>())[0]?.n ?? 0) === 0) return 0;
  const rs = await conn.client.query({ query: 'SELECT count() AS n FROM schema_migrations', format: 'JSONEachRow', clickhouse_settings: settings });
  return Number((await rs.json<{ n: number }>())[0]?.n ?? 0);
}
