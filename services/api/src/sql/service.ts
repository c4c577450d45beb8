/**
 * Analysts' SQL as the api runs it (POST /api/v1/sql, the dashboard's SQL page, and through them
 * `ipwatch sql`): read-only with ClickHouse's guards (shared/store/src/sql/readOnly.ts), each
 * query recorded in the audit log with who ran it, how it ended and how many rows it read.
 */
import type { IpwatchConfig } from '@ipwatch/core/config';
import { isIpwatchError } from '@ipwatch/core/errors';
import { newAuditId, openReadOnlyQueries, type AnalyticsStore, type AuditOutcome, type ReadOnlyQueries, type SqlResult } from '@ipwatch/store';

export interface SqlAnswer extends SqlResult {
  /** The audit log's id of this query. */
  auditId: string;
}

export interface SqlService {
  readonly limits: Readonly<IpwatchConfig['sql']>;
  run(sql: string, actor: string): Promise<SqlAnswer>;
  close(): Promise<void>;
}

export interface SqlServiceOptions {
  /** The store the audit log is written to (the pipeline's session, which may write). */
  analytics: AnalyticsStore;
  config: Pick<IpwatchConfig, 'clickhouse' | 'dataDir' | 'sql'>;
  now?: () => number;
}

/** How much of a query's text the audit log keeps. */
const AUDIT_TEXT = 2000;

export function createSqlService(options: SqlServiceOptions): SqlService {
  const { analytics, config } = options;
  const now = options.now ?? Date.now;
  // Opened at the first query: an api nobody asks for SQL holds no second session.
  let queries: Promise<ReadOnlyQueries> | null = null;
  const audit = (actor: string, id: string, outcome: AuditOutcome, rows: Record<string, number>, sql: string, why = '') =>
    analytics.recordAudit({ id, ts: now(), actor, action: 'query', subjectKind: 'sql', subjectBits: 0, outcome, rows, note: `${why ? `${why} | ` : ''}${sql.slice(0, AUDIT_TEXT)}` });
  return {
    limits: config.sql,
    async run(sql, actor) {
      const id = newAuditId();
      queries ??= openReadOnlyQueries(config, config.sql);
      try {
        const result = await (await queries).run(sql);
        await audit(actor, id, 'completed', { read: result.rowsRead, returned: result.rows.length }, sql);
        return { ...result, auditId: id };
      } catch (err) {
        const code = isIpwatchError(err) ? err.code : 'IPWATCH_INTERNAL';
        await audit(actor, id, code === 'IPWATCH_SQL_INVALID' || code === 'IPWATCH_INTERNAL' ? 'failed' : 'refused', {}, typeof sql === 'string' ? sql : '', code).catch(() => {});
        throw err;
      }
    },
    async close() {
      if (queries) await (await queries.catch(() => null))?.close();
    },
  };
}
