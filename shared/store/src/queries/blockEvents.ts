/** The audit trail of blocks and allowlist changes (`block_events`): one row per change, written by the api. */
import type { Analytics } from '../analytics.ts';

export type BlockEventAction = 'block' | 'unblock' | 'allow' | 'unallow';

export interface BlockEventRow {
  ts: number;
  action: BlockEventAction;
  target: string;
  reason: string;
  source: string;
  severity: string;
  expires_at: number | null;
  actor: string;
}

/** Records one change, or many in one insert. Values go as typed JSON rows, never into the SQL text. */
export async function insertBlockEvent(analytics: Analytics, row: BlockEventRow | BlockEventRow[]): Promise<void> {
  const values = Array.isArray(row) ? row : [row];
  if (values.length === 0) return;
  await analytics.client.insert({ table: 'block_events', values, format: 'JSONEachRow' });
}

/** The latest changes, newest first, optionally for one target. */
export async function listBlockEvents(analytics: Analytics, options: { target?: string; limit?: number } = {}): Promise<BlockEventRow[]> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 10_000);
  const rs = await analytics.client.query({
    query: `SELECT toUnixTimestamp64Milli(ts) AS ts, action, target, reason, source, severity,
                   if(isNull(expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(expires_at))) AS expires_at, actor
            FROM block_events
            ${options.target === undefined ? '' : 'WHERE target = {target:String}'}
            ORDER BY ts DESC LIMIT {limit:UInt32}`,
    query_params: { limit, ...(options.target === undefined ? {} : { target: options.target }) },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return (await rs.json<BlockEventRow>()).map((r) => ({ ...r, ts: Number(r.ts), expires_at: r.expires_at === null ? null : Number(r.expires_at) }));
}
