/**
 * The privacy audit log (privacy_audit, migration 0012): who exported, erased or queried what,
 * when, and how many rows. It records the kind of subject and a range's prefix length, never
 * the address, user id or query text: the log must not become the personal data it accounts for.
 */
import { randomUUID } from 'node:crypto';
import type { StoreConnection } from '../analytics.ts';

export type AuditAction = 'export' | 'erase' | 'query';
/** started: an erasure's rows counted and its journal written (a completed entry with the same subject follows). */
export type AuditOutcome = 'started' | 'completed' | 'nothing_found' | 'refused' | 'failed';

export interface AuditEntry {
  id: string;
  ts: number;
  actor: string;
  action: AuditAction;
  /** ip, cidr, user (exports and erasures), sql (queries). */
  subjectKind: string;
  /** The prefix length of a range (32 or 128 for one address, 0 for a user or a query). */
  subjectBits: number;
  outcome: AuditOutcome;
  /** Rows per table (exported, removed, or read by a query). */
  rows: Record<string, number>;
  note: string;
}

export function newAuditId(): string {
  return randomUUID();
}

/** Records one act; `id` is what the operator files with the request. */
export async function recordAudit(conn: Pick<StoreConnection, 'client'>, entry: AuditEntry): Promise<void> {
  await conn.client.insert({
    table: 'privacy_audit',
    format: 'JSONEachRow',
    values: [
      {
        id: entry.id,
        ts: entry.ts,
        actor: entry.actor.slice(0, 200),
        action: entry.action,
        subject_kind: entry.subjectKind,
        subject_bits: entry.subjectBits,
        outcome: entry.outcome,
        rows: entry.rows,
        note: entry.note.slice(0, 2000),
      },
    ],
  });
}

export interface ListAuditQuery {
  limit?: number;
  /** One action, or several. */
  action?: AuditAction | readonly AuditAction[];
  sinceMs?: number;
}

interface Row {
  id: string;
  ts_ms: number;
  actor: string;
  action: AuditAction;
  subject_kind: string;
  subject_bits: number;
  outcome: AuditOutcome;
  rows: Record<string, string | number>;
  note: string;
}

/** The log, newest first. */
export async function listAudit(conn: Pick<StoreConnection, 'client'>, query: ListAuditQuery = {}): Promise<AuditEntry[]> {
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: Math.min(Math.max(query.limit ?? 100, 1), 10_000) };
  if (query.action) {
    where.push('has({actions:Array(String)}, action)');
    params.actions = typeof query.action === 'string' ? [query.action] : [...query.action];
  }
  if (query.sinceMs !== undefined) {
    where.push('ts >= fromUnixTimestamp64Milli({since:Int64})');
    params.since = Math.trunc(query.sinceMs);
  }
  const rows = await (
    await conn.client.query({
      query: `SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, actor, action, subject_kind, subject_bits, outcome, rows, note
              FROM privacy_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
              ORDER BY ts DESC, id LIMIT {limit:UInt32}`,
      query_params: params,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
  ).json<Row>();
  return rows.map((r) => ({
    id: r.id,
    ts: Number(r.ts_ms),
    actor: r.actor,
    action: r.action,
    subjectKind: r.subject_kind,
    subjectBits: Number(r.subject_bits),
    outcome: r.outcome,
    rows: Object.fromEntries(Object.entries(r.rows).map(([k, v]) => [k, Number(v)])),
    note: r.note,
  }));
}
