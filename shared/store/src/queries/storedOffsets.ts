/** Which offsets of a partition, from `first` on, a stream table already holds (the sink's replay guard). */
import type { StoreConnection } from '../analytics.ts';
import { assertStreamTable, type StreamTable } from './streamTables.ts';

export interface StoredOffsetsQuery {
  table: StreamTable;
  epoch: string;
  partition: number;
  first: bigint;
}

/** Offsets as decimal strings. The minmax index on kafka_offset keeps this to the newest granules. */
export async function storedOffsets(conn: Pick<StoreConnection, 'client'>, q: StoredOffsetsQuery): Promise<Set<string>> {
  assertStreamTable(q.table);
  const rs = await conn.client.query({
    query: `SELECT toString(kafka_offset) AS o FROM ${q.table}
            WHERE log_epoch = {epoch:String} AND kafka_partition = {p:UInt32} AND kafka_offset >= {first:UInt64}`,
    query_params: { epoch: q.epoch, p: q.partition, first: q.first.toString() },
    format: 'JSONEachRow',
  });
  return new Set((await rs.json<{ o: string }>()).map((r) => r.o));
}
