/** The sink's insert of one batch of stream rows, deduplicated by ClickHouse if it is retried. */
import type { StoreConnection } from '../analytics.ts';
import { assertStreamTable, type StreamTable } from './streamTables.ts';

export interface StreamRowsInsert {
  table: StreamTable;
  columns: readonly [string, ...string[]];
  /** Values in `columns` order (JSONCompactEachRow: no column names repeated per row). */
  rows: unknown[][];
  /** Names the batch (epoch, topic, partition, offset range): a retry of this very insert is dropped block by block. */
  deduplicationToken: string;
}

export async function insertStreamRows(conn: Pick<StoreConnection, 'client' | 'rawInsert'>, insert: StreamRowsInsert): Promise<void> {
  assertStreamTable(insert.table);
  const settings = {
    insert_deduplication_token: insert.deduplicationToken,
    // Without this a dropped block would still be counted by the rollup view.
    deduplicate_blocks_in_dependent_materialized_views: 1,
  } as const;
  if (conn.rawInsert) {
    // One JSON array per line, as the client would write them, as bytes for chDB's own parser.
    let text = '';
    for (const row of insert.rows) text += `${JSON.stringify(row)}\n`;
    await conn.rawInsert(insert.table, insert.columns, Buffer.from(text), { ...settings });
    return;
  }
  await conn.client.insert({
    table: insert.table,
    values: insert.rows,
    format: 'JSONCompactEachRow',
    columns: [...insert.columns] as [string, ...string[]],
    clickhouse_settings: settings,
  });
}
