/**
 * Numbered, idempotent ClickHouse migrations (infra/clickhouse/migrations/NNNN_name.sql)
 * with a ledger table of what ran. A migration that was applied and then edited is refused:
 * write a new one instead.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
  options: { dir?: string; dryRun?: boolean; retentionDays?: number } = {},
): Promise<MigrateResult> {
  const { client } = analytics;
  const migrations = loadMigrations(options.dir);
  await client.command({ query: LEDGER });
  const rows = await (await client.query({ query: 'SELECT version, name, checksum FROM schema_migrations', format: 'JSONEachRow' })).json<{ version: number; name: string; checksum: string }>();
  const done = new Map(rows.map((r) => [Number(r.version), r]));
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
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
  if (options.retentionDays !== undefined && !options.dryRun) {
    // An integer from the validated config, not user text: safe to place in DDL.
    const days = Math.trunc(options.retentionDays);
    for (const table of ['requests', 'rate_limit_events']) {
      const [row] = await (
        await client.query({ query: 'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}', query_params: { t: table }, format: 'JSONEachRow' })
      ).json<{ engine_full: string }>();
      // Changing a TTL rewrites parts, so only do it when the retention really changed.
      if (row && !row.engine_full.includes(`toIntervalDay(${days})`)) {
        await client.command({ query: `ALTER TABLE ${table} MODIFY TTL toDateTime(ts) + INTERVAL ${days} DAY` });
      }
    }
  }
  return result;
}
