import { parseArgs } from 'node:util';
import { openAnalytics, migrate } from '@ipwatch/store';
import { loadConfig } from '@ipwatch/core/config';
import { out } from '../output.ts';

export const help = `ipwatch migrate [--dry-run]
  Applies the numbered ClickHouse migrations (infra/clickhouse/migrations) that have not run
  yet, recording each in the schema_migrations ledger. Safe to run again.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const config = loadConfig();
  const analytics = await openAnalytics(config);
  try {
    const result = await migrate(analytics, { dryRun: values['dry-run'] === true, retentionDays: config.retention.requestsDays });
    for (const name of result.applied) out(`${values['dry-run'] ? 'would apply' : 'applied'} ${name}`);
    out(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied (${analytics.engine}, database ${analytics.database})`);
    return 0;
  } finally {
    await analytics.close();
  }
}
