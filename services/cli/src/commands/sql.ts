import { readFileSync, statSync } from 'node:fs';
import { loadConfig, type IpwatchConfig, type SqlLimits } from '@ipwatch/core/config';
import { cellText, isNumericColumn, MAX_SQL_LENGTH, openAnalytics, sqlResultToCsv, type SqlResult } from '@ipwatch/store';
import { apiRequest, ApiUnreachable } from '../apiClient.ts';
import { out, info, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';
import { actor } from './listCommon.ts';

export const help = `ipwatch sql "<query>" | --file PATH | - [--format table|json|csv] [--via-api]
  Runs one read-only SQL query against the store and prints the result: the request log, its
  rollups, rate-limit refusals, detections, the block history (docs/TABLES.md describes every
  table and column; the README's "SQL for analysts" has a cookbook of questions answered).
  The query is given as the argument, read from --file PATH, or from stdin when the argument
  is -. It runs under ClickHouse's own guards: read-only (readonly=1: no INSERT, ALTER, DROP,
  SYSTEM, SET, file(), url(), remote()...), and at most IPWATCH_SQL_MAX_ROWS_READ rows read,
  IPWATCH_SQL_MAX_RESULT_ROWS rows and IPWATCH_SQL_MAX_RESULT_BYTES bytes returned,
  IPWATCH_SQL_MAX_SECONDS seconds, IPWATCH_SQL_MAX_MEMORY_MB of memory; a refused or stopped
  query says which guard and how to raise it (exit 2). Every query is recorded, with its text,
  in the privacy audit log (ipwatch privacy audit --action query).
  Embedded (npm start, ipwatch dev): through the running api, whose process holds the store.
  With IPWATCH_CLICKHOUSE_URL set: directly against the ClickHouse server, recorded under
  cli:<user>@<host>; --via-api sends it through the api there too.
  --format F   table (the default, on a terminal and in a pipe alike): aligned columns, numbers
               right-aligned, text shown safely (terminal escapes and invisible characters as
               U+FFFD), long cells cut with … to fit the terminal (80 to 160 columns);
               json: the api's answer ({columns, rows, rowsRead, bytesRead, elapsedMs, auditId,
               limits}, 64-bit integers as strings), exact; csv: a header row, then the rows, a
               text cell starting with = + - @ prefixed with ' so a spreadsheet never runs it.
               Rows read, time and the audit id go to stderr.
  --file PATH  read the query from a file
  --via-api    with IPWATCH_CLICKHOUSE_URL set, run it through the api anyway
  A query that starts with - (a -- comment) goes after --: ipwatch sql -- "$(cat query.sql)".
  Examples:
    ipwatch sql "SELECT status, count() AS n FROM requests WHERE ts > now() - INTERVAL 1 HOUR GROUP BY status ORDER BY n DESC"
    ipwatch sql --file top-errors.sql --format csv > top-errors.csv
    echo "SELECT count() FROM detections" | ipwatch sql -`;

const FORMATS = ['table', 'json', 'csv'] as const;
type Format = (typeof FORMATS)[number];
/** The api answers within its own time limit; this is only for a query that never comes back. */
const SQL_TIMEOUT_MS = 60 * 60_000;

export interface SqlOutput extends SqlResult {
  auditId: string;
  limits: SqlLimits;
}

/** Code points, so that a cut never splits a surrogate pair. */
const chars = (s: string) => Array.from(s);
/** A cell cut to `width` columns, … standing for what was cut. */
function fit(s: string, width: number): string {
  const c = chars(s);
  return c.length <= width ? s : `${c.slice(0, Math.max(0, width - 1)).join('')}…`;
}
const pad = (s: string, width: number, right: boolean) => {
  const gap = ' '.repeat(Math.max(0, width - chars(s).length));
  return right ? gap + s : s + gap;
};

/** Narrowest a column is squeezed to before the table is let run wider than the terminal. */
const MIN_COLUMN = 8;
const GAP = '  ';

/**
 * The result as aligned lines: a header, a rule, one line per row. Every cell is printable()
 * (paths and user agents come from attackers); numeric columns are right-aligned; the widest
 * columns are narrowed, their long cells cut with …, until the table fits `width`.
 *
 * @example
 * renderTable({ columns: [{ name: 'path', type: 'String' }, { name: 'n', type: 'UInt64' }], rows: [['/x', '3']] }, 80);
 * // ['path  n', '----  -', '/x    3']
 */
export function renderTable(result: Pick<SqlResult, 'columns' | 'rows'>, width: number): string[] {
  const header = result.columns.map((c) => printable(c.name));
  const right = result.columns.map(isNumericColumn);
  const cells = result.rows.map((row) => result.columns.map((_, i) => (row[i] === null ? 'NULL' : printable(cellText(row[i])))));
  const natural = header.map((h, i) => Math.max(chars(h).length, ...cells.map((r) => chars(r[i]!).length)));
  const widths = [...natural];
  const total = () => widths.reduce((n, w) => n + w, 0) + GAP.length * Math.max(0, widths.length - 1);
  let excess = total() - width;
  while (excess > 0) {
    // The widest column that can still give: narrowed to the next-widest (by one when tied), or by what is left over.
    let k = -1;
    for (let i = 0; i < widths.length; i++) if (widths[i]! > Math.min(natural[i]!, MIN_COLUMN) && (k < 0 || widths[i]! > widths[k]!)) k = i;
    if (k < 0) break;
    const next = Math.max(Math.min(natural[k]!, MIN_COLUMN), ...widths.filter((w, i) => i !== k && w <= widths[k]!));
    const give = Math.min(excess, Math.max(1, widths[k]! - next));
    widths[k] = widths[k]! - give;
    excess -= give;
  }
  const line = (row: string[]) => row.map((c, i) => pad(fit(c, widths[i]!), widths[i]!, right[i]!)).join(GAP).trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join(GAP), ...cells.map(line)];
}

/** What a run read and where it is recorded: the footer, on stderr. */
export function footer(r: Pick<SqlOutput, 'rows' | 'rowsRead' | 'elapsedMs' | 'auditId'>): string {
  const n = r.rows.length;
  return `${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}, read ${r.rowsRead.toLocaleString('en-US')} row${r.rowsRead === 1 ? '' : 's'} in ${r.elapsedMs} ms (audit id ${r.auditId})`;
}

/** The terminal's width, held between 80 and 160 columns; 120 in a pipe. */
function tableWidth(): number {
  const asked = process.stdout.columns || Number(process.env.COLUMNS) || 120;
  return Math.min(160, Math.max(80, asked));
}

/** The query: the argument, a file, or stdin (-). */
async function readSql(positionals: string[], file: string | undefined): Promise<string> {
  const usage = 'ipwatch sql "<query>" | --file PATH | - [--format table|json|csv]';
  if (positionals.length > 1) throw new UsageError(`give the query as one argument, in quotes (${positionals.length} were given): ${usage}`);
  if (positionals.length === 1 && file !== undefined) throw new UsageError(`give the query as an argument or --file, not both: ${usage}`);
  let sql: string;
  if (file !== undefined) {
    let size: number;
    try {
      size = statSync(file).size;
    } catch (err) {
      throw new UsageError(`cannot read --file ${printable(JSON.stringify(file))}: ${(err as Error).message}`);
    }
    if (size > MAX_SQL_LENGTH * 4) throw new UsageError(`--file ${printable(JSON.stringify(file))} is ${size} bytes: a query is at most ${MAX_SQL_LENGTH} characters`);
    sql = readFileSync(file, 'utf8');
  } else if (positionals[0] === '-') {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > MAX_SQL_LENGTH * 4) throw new UsageError(`the query on stdin is longer than ${MAX_SQL_LENGTH} characters`);
      chunks.push(chunk);
    }
    sql = Buffer.concat(chunks).toString('utf8');
  } else if (positionals.length === 1) {
    sql = positionals[0]!;
  } else {
    throw new UsageError(`say what to ask, e.g. ipwatch sql "SELECT count() FROM requests WHERE ts > now() - INTERVAL 1 HOUR": ${usage}`);
  }
  if (sql.trim() === '') throw new UsageError(`the query is empty: ${usage}`);
  if (sql.length > MAX_SQL_LENGTH) throw new UsageError(`the query is ${sql.length} characters long; at most ${MAX_SQL_LENGTH} are taken`);
  return sql;
}

/** Through the running api: the process that holds the embedded store, and the one place its queries are audited. */
async function viaApi(config: Readonly<IpwatchConfig>, sql: string): Promise<SqlOutput> {
  try {
    return await apiRequest<SqlOutput>(config, 'POST', '/api/v1/sql', { body: { query: sql, format: 'json' }, timeoutMs: SQL_TIMEOUT_MS });
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    throw new ApiUnreachable(
      `${err.message}. Embedded, the store is inside the running process, so queries go through its api: start ipwatch (\`npm start\`) or the api service (\`ipwatch run api\`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it. Against a ClickHouse server, set IPWATCH_CLICKHOUSE_URL and the query runs there directly.`,
      { cause: err },
    );
  }
}

/** Directly against the ClickHouse server, with the api's guards and audit (its SQL service), recorded under this shell's user. */
async function direct(config: Readonly<IpwatchConfig>, sql: string): Promise<SqlOutput> {
  const { createSqlService } = await import('@ipwatch/api');
  const analytics = await openAnalytics(config);
  const service = createSqlService({ analytics, config });
  try {
    return { ...(await service.run(sql, `cli:${actor()}`)), limits: config.sql };
  } finally {
    await service.close();
    await analytics.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(argv, { format: { type: 'string' }, file: { type: 'string' }, 'via-api': { type: 'boolean' } }, true);
  const format = (values.format ?? 'table') as Format;
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${printable(JSON.stringify(format.slice(0, 20)))} must be table, json or csv`);
  const sql = await readSql(positionals, values.file);
  const config = loadConfig();
  const result = config.clickhouse && !values['via-api'] ? await direct(config, sql) : await viaApi(config, sql);

  if (format === 'json') out(JSON.stringify(result));
  else if (format === 'csv') process.stdout.write(sqlResultToCsv(result));
  else for (const l of renderTable(result, tableWidth())) out(l);
  info(footer(result));
  return 0;
}
