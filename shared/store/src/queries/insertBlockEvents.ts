/** The audit trail of blocks and allowlist changes (`block_events`): one row per change, written by the api. */
import type { StoreConnection } from '../analytics.ts';

export type BlockEventAction = 'block' | 'unblock' | 'allow' | 'unallow';

export interface BlockEventRow {
  ts: number;
  action: BlockEventAction;
  target: string;
  reason: string;
  source: string;
  severity: string;
  expires_at: number | null;
  /** The authenticated caller (a token's name, or local). */
  actor: string;
  /** Beside the actor, what the caller said of itself ("stated by caller: ..."); '' when nothing. Rows before migration 0005 read ''. */
  note?: string;
}

/** Records one change, or many in one insert. Values go as typed JSON rows, never into the SQL text. */
export async function insertBlockEvents(conn: Pick<StoreConnection, 'client'>, row: BlockEventRow | BlockEventRow[]): Promise<void> {
  const values = Array.isArray(row) ? row : [row];
  if (values.length === 0) return;
  await conn.client.insert({ table: 'block_events', values, format: 'JSONEachRow' });
}
