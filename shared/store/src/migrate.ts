/**
 * Numbered, idempotent ClickHouse migrations (infra/clickhouse/migrations/NNNN_name.sql)
 * with a ledger table of what ran. A migration that was applied and then edited is refused:
 * write a new one instead. After them, each table's TTL is set to the configured retention
 * when it differs (README, "Retention").
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RetentionConfig } from '@ipwatch/core/config';
import type { StoreConnection } from './analytics.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../infra/clickhouse/migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  /** The tables whose TTL was set (or, in a dry run, would be) because the retention changed. */
  retention: RetentionChange[];
}

export interface RetentionChange {
  table: string;
  days: number;
  /** The days it had; null when it had no TTL (or one not in days). */
  was: number | null;
}

/**
 * Each table that holds data about visitors, the time its TTL counts from, and the retention it
 * follows. The sketches of requests_top_* hold client addresses as text, so they live no longer
 * than the requests they were made of.
 */
const TABLE_RETENTION: { table: string; from: string; days: (r: RetentionConfig) => number }[] = [
  { table: 'requests', from: 'toDateTime(ts)', days: (r) => r.requestsDays },
  { table: 'rate_limit_events', from: 'toDateTime(ts)', days: (r) => r.rateLimitEventsDays },
  { table: 'detections', from: 'toDateTime(ts)', days: (r) => r.detectionsDays },
  { table: 'block_events', from: 'toDateTime(ts)', days: (r) => r.blockEventsDays },
  { table: 'privacy_audit', from: 'toDateTime(ts)', days: (r) => r.auditDays },
  { table: 'requests_per_minute', from: 'minute', days: (r) => r.rollupsDays },
  { table: 'requests_top_hourly', from: 'hour', days: (r) => r.requestsDays },
  // The overview's widest period (7 days) and its edge need no more.
  { table: 'requests_top_5min', from: 'bucket', days: (r) => Math.min(8, r.requestsDays) },
];

/** One retention for every table and topic: for tests whose rows are months old. */
export function retentionForAll(days: number): RetentionConfig {
  return { requestsDays: days, rateLimitEventsDays: days, detectionsDays: days, blockEventsDays: days, auditDays: days, rollupsDays: days, topicHours: days * 24, dlqDays: days };
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file ${file} must be named NNNN_name.sql (lower case, digits, _)`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new Error(`two migrations share the number ${m[1]}`);
    seen.add(version);
    const sql = readFileSync(`${dir}${file}`, 'utf8');
    // Comment lines go first, so a comment ending in ';' cannot cut a statement in two.
    const statements = sql
      .replace(/^\s*--.*$/gm, '')
      .split(/;\s*(?:\n|$)/)
      .map((s) => s.trim())
      .filter(Boolean);
    return { version, name: file, checksum: createHash('sha256').update(sql).digest('hex'), statements };
  });
}

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree ORDER BY version`;

export async function migrate(
  analytics: Pick<StoreConnection, 'client'>,
  options: { dir?: string; dryRun?: boolean; retention?: RetentionConfig } = {},
): Promise<MigrateResult> {
  const { client } = analytics;
  const migrations = loadMigrations(options.dir);
  await client.command({ query: LEDGER });
  const rows = await (await client.query({ query: 'SELECT version, name, checksum FROM schema_migrations', format: 'JSONEachRow' })).json<{ version: number; name: string; checksum: string }>();
  const done = new Map(rows.map((r) => [Number(r.version), r]));
  const result: MigrateResult = { applied: [], alreadyApplied: [], retention: [] };
  for (const m of migrations) {
    const prior = done.get(m.version);
    if (prior) {
      if (prior.checksum !== m.checksum) {
        throw new Error(`migration ${m.name} was changed after it was applied (checksum differs). Applied migrations are immutable: revert the edit and add a new numbered migration.`);
      }
      result.alreadyApplied.push(m.name);
      continue;
    }
    if (!options.dryRun) {
      for (const statement of m.statements) await client.command({ query: statement });
      await client.insert({ table: 'schema_migrations', values: [{ version: m.version, name: m.name, checksum: m.checksum }], format: 'JSONEachRow' });
    }
    result.applied.push(m.name);
  }
  if (options.retention) result.retention = await applyRetention(analytics, options.retention, options.dryRun === true);
  return result;
}

/** Sets each table's TTL to its configured retention where it differs: a changed TTL rewrites the table's parts, so only then. */
async function applyRetention({ client }: Pick<StoreConnection, 'client'>, retention: RetentionConfig, dryRun: boolean): Promise<RetentionChange[]> {
  const rows = await (
    await client.query({
      query: 'SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN {tables:Array(String)}',
      query_params: { tables: TABLE_RETENTION.map((t) => t.table) },
      format: 'JSONEachRow',
    })
  ).json<{ name: string; engine_full: string }>();
  const engines = new Map(rows.map((r) => [r.name, r.engine_full]));
  const changes: RetentionChange[] = [];
  for (const { table, from, days: daysOf } of TABLE_RETENTION) {
    const engine = engines.get(table);
    if (engine === undefined) continue; // a dry run before the migration that creates it
    // Integers from the validated config and names from this file, not user text: safe in DDL.
    const days = Math.trunc(daysOf(retention));
    const ttl = `${from} + toIntervalDay(${days})`; // as ClickHouse writes it back in engine_full
    const current = / TTL (.+?)(?: SETTINGS |$)/.exec(engine)?.[1] ?? null;
    if (current === ttl) continue;
    if (!dryRun) await client.command({ query: `ALTER TABLE ${table} MODIFY TTL ${ttl}` });
    const was = current === null ? undefined : / \+ toIntervalDay\((\d+)\)$/.exec(current)?.[1];
    changes.push({ table, days, was: was === undefined ? null : Number(was) });
  }
  return changes;
}
