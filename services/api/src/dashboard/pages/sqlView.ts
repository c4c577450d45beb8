/**
 * What the SQL page shows (pages/sql.ts routes it): the query form, the cookbook as starting
 * points, the limits in force, the tables and their columns, and a result as a table (each
 * column's ClickHouse type in its header, numbers right-aligned, long cells cut with the whole
 * text in their title) with a chart when it is a time series: the first column a Date or
 * DateTime and at least one other numeric, whatever the query. Every cell is text through
 * `html`: a result holds paths, user agents and usernames, which anyone on the internet chose.
 */
import type { SqlLimits } from '@ipwatch/core/config';
import { COOKBOOK, MAX_SQL_LENGTH, TABLE_DOCS, type CookbookEntry } from '@ipwatch/store';
import type { SqlAnswer } from '../../sql/service.ts';
import { CSRF_FIELD } from '../access.ts';
import { dataJson, href, html, type Html } from '../html.ts';

/** Rows shown in the table (the chart takes them all): a page of 10,000 rows is for `ipwatch sql`. */
export const SHOWN_ROWS = 1000;
/** Characters of a cell shown; the rest is in its title (up to TITLE_CHARS). */
export const CELL_CHARS = 160;
const TITLE_CHARS = 20_000;

const count = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

/** A type without its Nullable(...) and LowCardinality(...) wrappers: `Nullable(UInt64)` is `UInt64`. */
export function bareType(type: string): string {
  let t = type.trim();
  for (;;) {
    const m = /^(?:Nullable|LowCardinality)\((.*)\)$/.exec(t);
    if (!m) return t;
    t = m[1]!.trim();
  }
}

/** Integers, floats and decimals: right-aligned, and lines of a chart. */
export function isNumericType(type: string): boolean {
  return /^(?:U?Int(?:8|16|32|64|128|256)|Float(?:32|64)|BFloat16|Decimal(?:32|64|128|256)?\(.*\))$/.test(bareType(type));
}

/** Date, Date32, DateTime and DateTime64, with or without a time zone. */
export function isTimeType(type: string): boolean {
  return /^(?:Date|Date32|DateTime|DateTime64)(?:\(.*\))?$/.test(bareType(type));
}

const zoneFormats = new Map<string, Intl.DateTimeFormat | null>();

/** How far ahead of UTC the zone's wall clock is at an instant (ms); 0 for UTC or a zone this runtime does not know. */
function zoneOffsetMs(zone: string, atMs: number): number {
  if (!zoneFormats.has(zone)) {
    let format: Intl.DateTimeFormat | null = null;
    try {
      format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    } catch {
      format = null;
    }
    zoneFormats.set(zone, format);
  }
  const format = zoneFormats.get(zone);
  if (!format) return 0;
  const p = Object.fromEntries(format.formatToParts(new Date(atMs)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(atMs / 1000) * 1000;
}

/**
 * A Date or DateTime value as ClickHouse writes it ("2026-12-01", "2026-12-01 04:05:00",
 * "2026-12-01 04:05:00.123") as Unix seconds, read in the type's time zone
 * (`DateTime('Europe/Paris')`), else in UTC (ipwatch's columns are all UTC); null when it is
 * not a time.
 *
 * @example
 * unixSeconds('2026-12-01 04:05:00', "DateTime('UTC')"); // 1796097900
 * unixSeconds('2026-12-01', 'Date');                     // 1796083200
 */
export function unixSeconds(value: unknown, type: string): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value; // a DateTime as a number (a format setting)
  if (typeof value !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?$/.exec(value);
  if (!m) return null;
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)) + (m[7] ? Math.round(Number(m[7]) * 1000) : 0);
  if (!Number.isFinite(wall)) return null;
  const zone = /'([^']+)'/.exec(bareType(type))?.[1];
  // A wall-clock time to an instant: the offset at the guess, then at the instant it gives (right across a DST change).
  const ms = zone ? wall - zoneOffsetMs(zone, wall - zoneOffsetMs(zone, wall)) : wall;
  return ms / 1000;
}

/** A number of a numeric column (64-bit integers come as strings); null for NULL, NaN or anything else. */
function numberOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : null;
}

export interface SeriesChart {
  /** Unix seconds, ascending. */
  x: number[];
  series: Array<{ label: string; values: Array<number | null> }>;
  title: string;
}

/**
 * The chart of a result that is a time series: the first column a Date or DateTime, one line
 * per numeric column after it; rows sorted by time (uPlot needs them so), rows whose time is
 * NULL left out. Null when the result is not one.
 */
export function timeSeries(answer: Pick<SqlAnswer, 'columns' | 'rows'>): SeriesChart | null {
  const [first, ...rest] = answer.columns;
  if (!first || !isTimeType(first.type)) return null;
  const numeric = rest.map((c, i) => ({ c, i: i + 1 })).filter(({ c }) => isNumericType(c.type));
  if (numeric.length === 0) return null;
  const points = answer.rows
    .map((row) => ({ t: unixSeconds(row[0], first.type), row }))
    .filter((p): p is { t: number; row: unknown[] } => p.t !== null)
    .sort((a, b) => a.t - b.t);
  if (points.length === 0) return null;
  return {
    x: points.map((p) => p.t),
    series: numeric.map(({ c, i }) => ({ label: c.name, values: points.map((p) => numberOf(p.row[i])) })),
    title: `${numeric.map(({ c }) => c.name).join(', ')} by ${first.name}`,
  };
}

/** A cell's text: strings as they are, NULL marked, arrays, maps and tuples as JSON. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function cell(value: unknown, kind: 'num' | 'time' | 'text'): Html {
  const text = textOf(value);
  if (text === null) return html`<td class="${kind === 'num' ? 'num' : ''}"><span class="null">NULL</span></td>`;
  const cls = kind === 'num' ? 'num' : kind === 'time' ? 'addr' : 'text';
  if (text.length <= CELL_CHARS) return html`<td class="${cls}">${text}</td>`;
  const title = text.length > TITLE_CHARS ? `${text.slice(0, TITLE_CHARS)}… (${count(text.length)} characters in all)` : text;
  return html`<td class="${cls} cut" title="${title}">${text.slice(0, CELL_CHARS)}<span class="more">… (${count(text.length)} characters)</span></td>`;
}

/** The result: what it cost, the audit entry, the chart of a time series, and the table. */
export function resultHtml(answer: SqlAnswer): Html {
  const kinds = answer.columns.map((c) => (isNumericType(c.type) ? 'num' : isTimeType(c.type) ? 'time' : 'text') as 'num' | 'time' | 'text');
  const shown = answer.rows.slice(0, SHOWN_ROWS);
  const chart = timeSeries(answer);
  return html`<section class="sql-result" aria-label="Result">
<p class="sql-stats"><b>${plural(answer.rows.length, 'row')}</b>, read ${plural(answer.rowsRead, 'row')} (${count(answer.bytesRead)} bytes) in ${count(answer.elapsedMs)} ms · audit entry <span class="addr">${answer.auditId}</span></p>
${chart ? html`<figure class="overview-chart sql-chart"><figcaption>${chart.title}</figcaption><div class="chart" data-chart="${dataJson(chart)}"><p class="chart-summary muted">A chart of ${plural(chart.x.length, 'point')} (it needs JavaScript).</p></div></figure>` : ''}
${answer.rows.length > SHOWN_ROWS ? html`<p class="hint">The first ${count(SHOWN_ROWS)} rows are shown${chart ? ' (the chart has them all)' : ''}: add a LIMIT or aggregate, or take them all with <code>ipwatch sql --format csv</code>.</p>` : ''}
${
  answer.columns.length === 0
    ? html`<p class="muted">The query answered no columns.</p>`
    : html`<div class="sql-table-wrap"><table class="sql-rows"><thead><tr>${answer.columns.map((c, i) => html`<th class="${kinds[i] === 'num' ? 'num' : ''}">${c.name}<span class="type">${c.type}</span></th>`)}</tr></thead><tbody>${shown.map(
        (row) => html`<tr>${answer.columns.map((_, i) => cell(row[i], kinds[i]!))}</tr>`,
      )}</tbody></table></div>${answer.rows.length === 0 ? html`<p class="muted">No rows.</p>` : ''}`
}
</section>`;
}

/** The form: the query (posted in the body, never in a URL: the dashboard's requests are logged) and Run. */
export function sqlFormHtml(csrf: string, sql: string, error: string | null): Html {
  return html`<form method="post" action="/sql" class="sql-form">
<input type="hidden" name="${CSRF_FIELD}" value="${csrf}">
<label for="sql-text">Query <span class="hint">(read-only: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)</span></label>
${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}
<textarea id="sql-text" name="sql" rows="${Math.min(30, Math.max(8, sql.split('\n').length + 1))}" spellcheck="false" autocomplete="off" required maxlength="${MAX_SQL_LENGTH}" placeholder="SELECT count() FROM requests WHERE ts &gt;= now() - INTERVAL 1 HOUR">${sql}</textarea>
<div class="buttons"><button type="submit" class="primary">Run</button></div>
</form>`;
}

/** The guards ClickHouse applies to every query, with the variables that raise them. */
export function limitsHtml(limits: Readonly<SqlLimits>): Html {
  return html`<p class="hint sql-limits">Each query runs read-only (ClickHouse <code>readonly=1</code>) and stops when it would read more than <b>${plural(limits.maxRowsRead, 'row')}</b> (IPWATCH_SQL_MAX_ROWS_READ), return more than <b>${plural(limits.maxResultRows, 'row')}</b> (IPWATCH_SQL_MAX_RESULT_ROWS) or ${count(limits.maxResultBytes)} bytes (IPWATCH_SQL_MAX_RESULT_BYTES), run longer than <b>${plural(limits.maxSeconds, 'second')}</b> (IPWATCH_SQL_MAX_SECONDS) or hold more than ${count(limits.maxMemoryMb)} MB (IPWATCH_SQL_MAX_MEMORY_MB). Every query is recorded in the audit log (the privacy page lists it), with who ran it.</p>`;
}

/**
 * The cookbook: each entry's title (a link filling the form with it) and its question; folded
 * (a summary to open) under a result, which then follows the form closely.
 */
export function cookbookHtml(selected: string | null, open: boolean): Html {
  return html`<aside class="cookbook"><details${open ? html` open` : ''}><summary><h2>Cookbook</h2> <span class="hint">${COOKBOOK.length} starting points</span></summary>
<p class="hint">Pick one to put it in the form, then change it and run it.</p>
<ul>${COOKBOOK.map(
    (e: CookbookEntry) =>
      html`<li${e.id === selected ? html` class="chosen"` : ''}><a href="${href('/sql', { example: e.id })}"${e.id === selected ? html` aria-current="true"` : ''}>${e.title}</a>${e.chart === 'time' ? html` <span class="tag">chart</span>` : ''}<p class="hint">${e.question}</p></li>`,
  )}</ul></details></aside>`;
}

/** The tables analysts query and their columns (each column's meaning in its title); docs/TABLES.md has the rest. */
export function tablesHtml(): Html {
  return html`<section class="sql-tables"><h2>Tables</h2>
<p class="hint">The columns of each table (hover a column for its meaning). <b>docs/TABLES.md</b> in the repository has every column's type and meaning, which hold personal data, the sort keys and what they make fast, and the retention. Bound queries on the large tables by <code>ts</code>: they are sorted by time.</p>
<dl class="sql-tables">${TABLE_DOCS.map(
    (t) => html`<dt><code>${t.name}</code></dt><dd>${Object.entries(t.columns).map(([name, c], i) => html`${i ? ', ' : ''}<code title="${c.meaning}">${name}</code>`)}</dd>`,
  )}</dl></section>`;
}

/** The cookbook entry of an id, or null. */
export function cookbookEntry(id: string): CookbookEntry | null {
  return COOKBOOK.find((e) => e.id === id) ?? null;
}
