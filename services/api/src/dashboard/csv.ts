/**
 * CSV for exports, safe to open in a spreadsheet: every cell quoted (a comma, quote or line
 * break in a path stays inside its cell), and a cell that a spreadsheet would read as a
 * formula (starting with =, +, -, @, a tab or a carriage return: OWASP's CSV injection list)
 * prefixed with a single quote, so a stored `=HYPERLINK(...)` user agent stays text.
 */

/** One cell: null and undefined are empty; everything else as text, defused and quoted. */
export function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  const defused = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${defused.replace(/"/g, '""')}"`;
}

/**
 * One line of cells, ended by CRLF (RFC 4180).
 *
 * @example
 * csvLine(['ts', 'path']); // '"ts","path"\r\n'
 * csvLine(['=1+1', 'a"b']); // '"\'=1+1","a""b"\r\n'
 */
export function csvLine(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * A file name for an export, dated in UTC to the minute.
 *
 * @example
 * csvFileName('requests', Date.UTC(2026, 11, 1, 2, 30)); // 'ipwatch-requests-2026-12-01T0230Z.csv'
 */
export function csvFileName(what: string, now: number): string {
  const stamp = new Date(now).toISOString().slice(0, 16).replace(':', '');
  return `ipwatch-${what}-${stamp}Z.csv`;
}
