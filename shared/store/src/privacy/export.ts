/**
 * A data subject's export: every row stored about an address, a range or a user, in every
 * table, with what each field means, and what Redis and the caches hold. Recorded in the audit
 * log (counts only).
 */
import type { StoreConnection } from '../analytics.ts';
import { PERSONAL_TABLES, exportColumns, type PersonalTable } from './catalog.ts';
import { newAuditId, recordAudit } from './audit.ts';
import type { HeldItem, PersonalStateHolder } from '@ipwatch/core/dataSubject';
import { subjectBits, type PrivacySubject } from '@ipwatch/core/dataSubject';

export interface ExportedTable {
  table: string;
  description: string;
  fields: Record<string, string>;
  rows: Array<Record<string, unknown>>;
  /** True when the table held more rows about the subject than the export takes (maxRowsPerTable): ask for a narrower range. */
  truncated: boolean;
}

export interface PrivacyExport {
  /** The subject as asked (canonical). */
  subject: string;
  subjectKind: PrivacySubject['kind'];
  generatedAt: number;
  /** The audit log's id of this export. */
  auditId: string;
  tables: ExportedTable[];
  /** What is held outside ClickHouse (rate-limit counters, alerts sent, caches). */
  held: Array<{ place: string; items: HeldItem[] }>;
  /** Rows in all tables. */
  total: number;
}

export interface ExportOptions {
  actor: string;
  holders?: readonly PersonalStateHolder[];
  /** Rows per table at most (default 1,000,000): an export is a file, not a stream. */
  maxRowsPerTable?: number;
  now?: number;
}

/** The condition finding a subject's rows in a table for an export: about it, or mentioning it. */
export function exportCondition(t: PersonalTable, subject: PrivacySubject, params: Record<string, unknown>): string | null {
  const parts = [t.where(subject, params), t.scrub?.(subject, params)?.where ?? null].filter((p): p is string => p !== null);
  return parts.length ? parts.map((p) => `(${p})`).join(' OR ') : null;
}

/** Ids of the subject's detections (the alert ledger is keyed by them). */
export async function subjectDetectionIds(conn: Pick<StoreConnection, 'client'>, subject: PrivacySubject): Promise<string[]> {
  const t = PERSONAL_TABLES.find((x) => x.table === 'detections')!;
  const params: Record<string, unknown> = {};
  const where = t.where(subject, params);
  if (where === null) return [];
  const rows = await (await conn.client.query({ query: `SELECT DISTINCT id FROM detections WHERE ${where} LIMIT 100000`, query_params: params, format: 'JSONEachRow' })).json<{ id: string }>();
  return rows.map((r) => r.id);
}

/**
 * @example
 * const e = await exportSubject(store, parseSubject({ ip: '203.0.113.7' }), { actor: 'admin', holders });
 * e.tables.find((t) => t.table === 'requests')!.rows.length; // every request stored from 203.0.113.7
 */
export async function exportSubject(conn: Pick<StoreConnection, 'client'>, subject: PrivacySubject, options: ExportOptions): Promise<PrivacyExport> {
  const max = options.maxRowsPerTable ?? 1_000_000;
  const tables: ExportedTable[] = [];
  for (const t of PERSONAL_TABLES) {
    // One row more than taken, to know whether the table held more.
    const params: Record<string, unknown> = { s_max: max + 1 };
    const where = exportCondition(t, subject, params);
    const rows =
      where === null
        ? []
        : await (
            await conn.client.query({
              // The ip column read as text keeps its name: the condition must still see the column (a
              // SETTINGS clause, not the client's settings, which chDB would keep for the session).
              query: `SELECT ${exportColumns(t)} FROM ${t.table} WHERE ${where} ORDER BY ${t.time} LIMIT {s_max:UInt32}
                      SETTINGS prefer_column_name_to_alias = 1, date_time_output_format = 'iso'`,
              query_params: params,
              format: 'JSONEachRow',
              clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
            })
          ).json<Record<string, unknown>>();
    tables.push({ table: t.table, description: t.description, fields: t.fields, rows: rows.slice(0, max), truncated: rows.length > max });
  }
  const detectionIds = await subjectDetectionIds(conn, subject);
  const held: PrivacyExport['held'] = [];
  for (const h of options.holders ?? []) held.push({ place: h.place, items: await h.find(subject, { detectionIds }) });
  const total = tables.reduce((n, t) => n + t.rows.length, 0);
  const auditId = newAuditId();
  const now = options.now ?? Date.now();
  const counts = Object.fromEntries(tables.map((t) => [t.table, t.rows.length]));
  for (const h of held) counts[h.place] = h.items.length;
  await recordAudit(conn, {
    id: auditId,
    ts: now,
    actor: options.actor,
    action: 'export',
    subjectKind: subject.kind,
    subjectBits: subjectBits(subject),
    outcome: total + held.reduce((n, h) => n + h.items.length, 0) === 0 ? 'nothing_found' : 'completed',
    rows: counts,
    note: '',
  });
  return { subject: subject.text, subjectKind: subject.kind, generatedAt: now, auditId, tables, held, total };
}

/** What an erasure would find, counted only (the confirmation before it): nothing recorded, no rows read out. */
export interface PrivacyPreview {
  subject: string;
  subjectKind: PrivacySubject['kind'];
  tables: Array<{ table: string; description: string; rows: number }>;
  held: Array<{ place: string; kinds: string[]; count: number }>;
  total: number;
}

/**
 * @example
 * const p = await previewSubject(store, parseSubject({ ip: '203.0.113.7' }), holders);
 * p.total; // rows an erasure would delete or clear, in all tables
 */
export async function previewSubject(conn: Pick<StoreConnection, 'client'>, subject: PrivacySubject, holders: readonly PersonalStateHolder[] = []): Promise<PrivacyPreview> {
  const tables: PrivacyPreview['tables'] = [];
  for (const t of PERSONAL_TABLES) {
    const params: Record<string, unknown> = {};
    const where = exportCondition(t, subject, params);
    const n =
      where === null
        ? 0
        : Number((await (await conn.client.query({ query: `SELECT count() AS n FROM ${t.table} WHERE ${where}`, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<{ n: number }>())[0]?.n ?? 0);
    tables.push({ table: t.table, description: t.description, rows: n });
  }
  const related = { detectionIds: await subjectDetectionIds(conn, subject) };
  const held: PrivacyPreview['held'] = [];
  for (const h of holders) {
    const items = await h.find(subject, related);
    held.push({ place: h.place, kinds: [...new Set(items.map((i) => i.kind))], count: items.length });
  }
  return { subject: subject.text, subjectKind: subject.kind, tables, held, total: tables.reduce((n, t) => n + t.rows, 0) };
}

/** A CSV cell: quoted when it must be, and never read as a formula by a spreadsheet. */
function cell(value: unknown): string {
  let s = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The export as one CSV in long form, one line per field of a row (table, row, field, value,
 * meaning): every table in one file, every value with what it means.
 */
export function exportToCsv(e: PrivacyExport): string {
  const lines = ['table,row,field,value,meaning'];
  for (const t of e.tables) {
    t.rows.forEach((row, i) => {
      for (const [field, value] of Object.entries(row)) lines.push([t.table, i + 1, field, value, t.fields[field] ?? ''].map(cell).join(','));
    });
  }
  for (const h of e.held) {
    h.items.forEach((item, i) => {
      lines.push([h.place, i + 1, item.kind, item.name, item.detail].map(cell).join(','));
    });
  }
  return `${lines.join('\n')}\n`;
}
