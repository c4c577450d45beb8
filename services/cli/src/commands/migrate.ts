import { parseArgs } from 'node:util';
import { openAnalytics, migrate } from '@ipwatch/store';
import { loadConfig } from '@ipwatch/core/config';
import { out } from '../output.ts';

export const help = `ipwatch migrate [--dry-run]
  Applies the numbered ClickHouse migrations (infra/clickhouse/migrations) that have not run
  yet, recording each in the schema_migrations ledger, then sets each table's TTL to its
  configured retention (IPWATCH_RETENTION_*) where it differs, printing each change. Safe to
  run again.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const dryRun = values['dry-run'] === true;
  const config = loadConfig();
  const analytics = await openAnalytics(config);
  try {
    const result = await migrate(analytics, { dryRun, retention: config.retention });
    for (const name of result.applied) out(`${dryRun ? 'would apply' : 'applied'} ${name}`);
    for (const c of result.retention) {
      out(`retention of ${c.table} ${dryRun ? 'would be set' : 'set'} to ${c.days} days (${c.was === null ? 'had none' : `was ${c.was}`})`);
    }
    out(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied (${analytics.engine}, database ${analytics.database})`);
    return 0;
  } finally {
    await analytics.close();
  }
}
