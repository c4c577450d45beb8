/** The latest changes to the block list and the allowlist, newest first, optionally for one target. */
import type { StoreConnection } from '../analytics.ts';
import type { BlockEventRow } from './insertBlockEvents.ts';

export interface ListBlockEventsOptions {
  target?: string;
  /** 1 to 10,000; default 100. */
  limit?: number;
}

export async function listBlockEvents(conn: Pick<StoreConnection, 'client'>, options: ListBlockEventsOptions = {}): Promise<BlockEventRow[]> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 10_000);
  const rs = await conn.client.query({
    query: `SELECT toUnixTimestamp64Milli(ts) AS ts, action, target, reason, source, severity,
                   if(isNull(expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(expires_at))) AS expires_at, actor, note
            FROM block_events
            ${options.target === undefined ? '' : 'WHERE target = {target:String}'}
            ORDER BY ts DESC LIMIT {limit:UInt32}`,
    query_params: { limit, ...(options.target === undefined ? {} : { target: options.target }) },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return (await rs.json<BlockEventRow>()).map((r) => ({ ...r, ts: Number(r.ts), expires_at: r.expires_at === null ? null : Number(r.expires_at) }));
}
