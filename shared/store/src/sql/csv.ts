/**
 * An analyst's query result as CSV (POST /api/v1/sql with format csv, `ipwatch sql --format
 * csv`): a header row of the column names, then one line per row. Text cells are protected as
 * the request log's export protects them: a cell starting with =, +, -, @, tab or CR gets a
 * leading ' so that a spreadsheet shows it rather than runs it. A number in a numeric column
 * is left as it is (a negative count must stay a number).
 */
import type { SqlColumn, SqlResult } from './readOnly.ts';

/** A ClickHouse type whose values are numbers: (U)Int*, Float*, Decimal*, possibly Nullable. */
const NUMERIC_TYPE = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal(\d+)?\b)/;
/** What ClickHouse writes for a number in JSON (64-bit integers quoted): digits, a sign, an exponent, nan, inf. */
const NUMBER_TEXT = /^-?(\d+(\.\d+)?([eE][+-]?\d+)?|inf|nan)$/;

/** Whether the column holds numbers (right-aligned in a table, left unprotected in a CSV). */
export function isNumericColumn(column: Pick<SqlColumn, 'type'>): boolean {
  return NUMERIC_TYPE.test(column.type);
}

/** A cell as text: null empty, arrays, tuples and maps as JSON, everything else as ClickHouse gave it. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function csvCell(value: unknown, numeric: boolean): string {
  let s = cellText(value);
  if (!(numeric && NUMBER_TEXT.test(s)) && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * @example
 * sqlResultToCsv({ columns: [{ name: 'path', type: 'String' }, { name: 'n', type: 'UInt64' }], rows: [['=cmd()', '3']], ... });
 * // "path,n\n'=cmd(),3\n"
 */
export function sqlResultToCsv(result: Pick<SqlResult, 'columns' | 'rows'>): string {
  const numeric = result.columns.map(isNumericColumn);
  const lines = [result.columns.map((c) => csvCell(c.name, false)).join(',')];
  for (const row of result.rows) lines.push(row.map((v, i) => csvCell(v, numeric[i] ?? false)).join(','));
  return `${lines.join('\n')}\n`;
}
