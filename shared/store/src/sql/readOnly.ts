/**
 * An analyst's own SQL, run read-only with ClickHouse's guards, never by parsing the SQL text:
 * `readonly = 1` refuses writes, DDL, SYSTEM, SET and the table functions that reach files or the
 * network (file, url, remote, s3...); `max_rows_to_read`, `max_result_rows`, `max_result_bytes`,
 * `max_execution_time` and `max_memory_usage` stop a query that reads, returns, runs or holds too
 * much, and under readonly = 1 a query cannot raise them (its SETTINGS clause is refused).
 *
 * Embedded (chDB): the queries run on a chDB session of their own over the same data directory.
 * chDB's adapter applies a client's settings as session-wide SET statements, so the guards are set
 * once on that session, readonly last, and can never leak into the pipeline's session (the sink's,
 * which must keep writing). A ClickHouse server: the settings go with each query, readonly last,
 * on the api's own ClickHouse account (README, "SQL for analysts", suggests constraints on the
 * server as the belt to these braces; not tested here: no ClickHouse server on this machine).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { join } from 'node:path';
import type { IpwatchConfig, SqlLimits } from '@ipwatch/core/config';
import { IpwatchError } from '@ipwatch/core/errors';

export interface SqlColumn {
  name: string;
  type: string;
}

export interface SqlResult {
  columns: SqlColumn[];
  /** One array per row, in the columns' order; 64-bit integers as strings (JSON cannot hold them exactly). */
  rows: unknown[][];
  rowsRead: number;
  bytesRead: number;
  elapsedMs: number;
}

export interface ReadOnlyQueries {
  readonly engine: 'chdb' | 'server';
  readonly limits: Readonly<SqlLimits>;
  /** Runs one query; throws SqlRefusedError, SqlLimitError or SqlInvalidError with what to do. */
  run(sql: string): Promise<SqlResult>;
  close(): Promise<void>;
}

/** A query that would write, change settings, or reach files or the network. */
export class SqlRefusedError extends IpwatchError {
  override readonly name = 'SqlRefusedError';
  constructor(message: string) {
    super('IPWATCH_SQL_REFUSED', message);
  }
}

/** A query stopped by one of the limits. */
export class SqlLimitError extends IpwatchError {
  override readonly name = 'SqlLimitError';
  constructor(message: string) {
    super('IPWATCH_SQL_LIMIT', message);
  }
}

/** A query ClickHouse could not run as written (syntax, unknown table or column, types). */
export class SqlInvalidError extends IpwatchError {
  override readonly name = 'SqlInvalidError';
  constructor(message: string) {
    super('IPWATCH_SQL_INVALID', message);
  }
}

/** Longest query text taken (a query is typed or pasted, not generated). */
export const MAX_SQL_LENGTH = 100_000;

/** The guards, in the order they must be set: readonly last, or it would refuse the others. */
export function guardSettings(limits: SqlLimits): Record<string, string | number> {
  return {
    max_rows_to_read: limits.maxRowsRead,
    read_overflow_mode: 'throw',
    max_result_rows: limits.maxResultRows,
    max_result_bytes: limits.maxResultBytes,
    result_overflow_mode: 'throw',
    max_execution_time: limits.maxSeconds,
    timeout_overflow_mode: 'throw',
    max_memory_usage: limits.maxMemoryMb * 1024 * 1024,
    // Not a guard: 64-bit integers as strings, which JSON readers cannot get wrong.
    output_format_json_quote_64bit_integers: 1,
    readonly: 1,
  };
}

/** ClickHouse's error code in a message ("Code: 164. DB::Exception: ..."), or the client's. */
function codeOf(err: unknown): number | null {
  const c = (err as { code?: unknown }).code;
  if (typeof c === 'string' && /^\d+$/.test(c)) return Number(c);
  const m = /Code: (\d+)/.exec(String((err as Error)?.message ?? ''));
  return m ? Number(m[1]) : null;
}

/** ClickHouse's own message, cleaned of its stack and code prefix, bounded. */
function saidBy(err: unknown): string {
  const text = String((err as Error)?.message ?? err)
    .replace(/^Code: \d+\. DB::Exception: /, '')
    .replace(/\s*\(version [^)]*\)\s*$/, '')
    .replace(/Stack trace:[\s\S]*$/, '')
    .trim();
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** The error a user reads: which guard stopped the query and how to raise it, or why it is wrong. */
export function explainSqlError(err: unknown, limits: SqlLimits): IpwatchError {
  const code = codeOf(err);
  const said = saidBy(err);
  switch (code) {
    case 164: // READONLY
      return new SqlRefusedError(
        `refused: ipwatch sql runs queries read-only (ClickHouse readonly=1), so writes (INSERT, ALTER, DROP, CREATE), SYSTEM, SET and table functions that reach files or the network (file, url, remote, s3) are not allowed. Ask the tables with SELECT. ClickHouse said: ${said}`,
      );
    case 158: // TOO_MANY_ROWS
      return new SqlLimitError(
        `stopped: the query would read more than ${limits.maxRowsRead.toLocaleString('en-US')} rows (IPWATCH_SQL_MAX_ROWS_READ). Narrow it with a time range on ts (the tables are sorted by time) or a client, or raise IPWATCH_SQL_MAX_ROWS_READ. ClickHouse said: ${said}`,
      );
    case 396: // TOO_MANY_ROWS_OR_BYTES (the result)
      return /bytes/i.test(said) && !/rows/i.test(said.split('current')[0] ?? '')
        ? new SqlLimitError(`stopped: the result is larger than ${limits.maxResultBytes.toLocaleString('en-US')} bytes (IPWATCH_SQL_MAX_RESULT_BYTES). Select fewer columns or rows, or raise IPWATCH_SQL_MAX_RESULT_BYTES. ClickHouse said: ${said}`)
        : new SqlLimitError(`stopped: the result has more than ${limits.maxResultRows.toLocaleString('en-US')} rows (IPWATCH_SQL_MAX_RESULT_ROWS). Add a LIMIT or aggregate, or raise IPWATCH_SQL_MAX_RESULT_ROWS. ClickHouse said: ${said}`);
    case 159: // TIMEOUT_EXCEEDED
      return new SqlLimitError(`stopped: the query ran longer than ${limits.maxSeconds} s (IPWATCH_SQL_MAX_SECONDS). Narrow its time range, use a rollup (requests_per_minute), or raise IPWATCH_SQL_MAX_SECONDS. ClickHouse said: ${said}`);
    case 241: // MEMORY_LIMIT_EXCEEDED
      return new SqlLimitError(`stopped: the query needed more than ${limits.maxMemoryMb} MB (IPWATCH_SQL_MAX_MEMORY_MB). Group by fewer keys or a shorter range, or raise IPWATCH_SQL_MAX_MEMORY_MB. ClickHouse said: ${said}`);
    default:
      return new SqlInvalidError(`ClickHouse could not run the query: ${said}`);
  }
}

interface JsonAnswer {
  meta: SqlColumn[];
  data: unknown[][];
  statistics?: { elapsed?: number; rows_read?: number; bytes_read?: number };
}

/**
 * @example
 * const q = await openReadOnlyQueries(config, config.sql);
 * const r = await q.run('SELECT country, count() AS n FROM requests GROUP BY country ORDER BY n DESC LIMIT 5');
 * r.columns; // [{ name: 'country', type: "LowCardinality(String)" }, { name: 'n', type: 'UInt64' }]
 */
export async function openReadOnlyQueries(config: Pick<IpwatchConfig, 'clickhouse' | 'dataDir'>, limits: SqlLimits): Promise<ReadOnlyQueries> {
  const guards = guardSettings(limits);
  let client: ClickHouseClient;
  let perQuery: Record<string, string | number> | undefined;
  let engine: 'chdb' | 'server';
  if (config.clickhouse) {
    const { url, username, password, database } = config.clickhouse;
    client = createClient({ url, username, password, database });
    perQuery = guards;
    engine = 'server';
  } else {
    const { createChdbConnection } = await import('chdb/connection');
    const connection = createChdbConnection({ path: join(config.dataDir, 'chdb') }) as unknown as NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;
    client = createClient({ connection });
    // This session's own: the database, then the guards, readonly last. They stay for the session.
    await client.command({ query: 'USE ipwatch' });
    await client.command({ query: 'SELECT 1', clickhouse_settings: guards as never });
    engine = 'chdb';
  }
  return {
    engine,
    limits: Object.freeze({ ...limits }),
    async run(sql) {
      if (typeof sql !== 'string' || sql.trim() === '') throw new IpwatchError('IPWATCH_USAGE', 'give a query, e.g. ipwatch sql "SELECT count() FROM requests WHERE ts > now() - INTERVAL 1 HOUR"');
      if (sql.length > MAX_SQL_LENGTH) throw new IpwatchError('IPWATCH_USAGE', `the query is ${sql.length} characters long; at most ${MAX_SQL_LENGTH} are taken`);
      const started = performance.now();
      let text: string;
      const failed = async (err: unknown): Promise<never> => {
        // chDB hands what a failed query had written to the next query's answer: a throwaway query takes it.
        if (engine === 'chdb') await client.exec({ query: 'SELECT 1' }).then((r) => new Response(r.stream as unknown as ReadableStream).text()).catch(() => '');
        throw err instanceof IpwatchError ? err : explainSqlError(err, limits);
      };
      try {
        // The text as written: exec adds no FORMAT clause (a SYSTEM or SET statement then reaches
        // ClickHouse's read-only check instead of failing to parse); the format is the default's.
        const rs = await client.exec({ query: sql, clickhouse_settings: { ...(perQuery ?? {}), default_format: 'JSONCompact' } as never });
        text = await new Response(rs.stream as unknown as ReadableStream).text();
      } catch (err) {
        return failed(err);
      }
      // ClickHouse checks max_result_bytes between blocks, so one large block passes it: the answer is measured too.
      if (text.length > limits.maxResultBytes + 64 * 1024) {
        return failed(new Error(`Code: 396. DB::Exception: Limit for result exceeded, max bytes: ${limits.maxResultBytes}, current bytes: ${text.length}`));
      }
      let answer: JsonAnswer;
      try {
        answer = JSON.parse(text) as JsonAnswer;
      } catch {
        // A query stopped while its answer streamed: ClickHouse appended its exception to the rows.
        const failure = /Code: \d+\. DB::Exception: [\s\S]*/.exec(text);
        if (failure) return failed(new Error(failure[0]));
        throw new SqlInvalidError('the answer was not in ipwatch\'s format: leave the FORMAT clause out (ipwatch sql --format chooses how the result is shown)');
      }
      if (!Array.isArray(answer?.meta) || !Array.isArray(answer?.data)) {
        throw new SqlInvalidError('the statement answered no rows: ipwatch sql runs SELECT queries (leave the FORMAT clause out)');
      }
      {
        return {
          columns: answer.meta.map((m) => ({ name: m.name, type: m.type })),
          rows: answer.data,
          rowsRead: Number(answer.statistics?.rows_read ?? 0),
          bytesRead: Number(answer.statistics?.bytes_read ?? 0),
          elapsedMs: Math.round(answer.statistics?.elapsed !== undefined ? answer.statistics.elapsed * 1000 : performance.now() - started),
        };
      }
    },
    async close() {
      await client.close();
    },
  };
}
