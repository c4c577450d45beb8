/**
 * The request log's filter as its URL holds it: read strictly (a parameter the log does not
 * take is refused, not ignored), parsed into the store's typed filter, and shown back as
 * chips, each with a link that removes it. The URL text is kept as given so every link on
 * the page can carry the same filter.
 */
import { isIpwatchError } from '@ipwatch/core/errors';
import { FilterError, parseLogFilter, type RequestFilter } from '@ipwatch/store';
import { readQuery } from '../../queryParameters.ts';
import { html, href, type Html } from '../html.ts';
import { LOG_FILTERS, logHref, type LogQuery } from '../links.ts';

const NOT_FILTERS = LOG_FILTERS.map((f) => `not_${f}` as const);
/** Every parameter the log page takes (the CSV export takes the same but limit and count). */
export const LOG_PARAMETERS = [...LOG_FILTERS, ...NOT_FILTERS, 'since', 'until', 'blocked', 'limited', 'before', 'limit', 'count'] as const;
export const CSV_PARAMETERS = LOG_PARAMETERS.filter((p) => p !== 'limit' && p !== 'count');
type LogParameter = (typeof LOG_PARAMETERS)[number];

export interface LogView {
  /** The filter's text as the URL gave it, empty values dropped (links keep it as it is). */
  query: LogQuery;
  /** Rows per page as asked (kept in links), or undefined for the default. */
  limit?: string;
  /** The total was asked for (`count=1`). */
  count: boolean;
}

export type ReadLog = { ok: true; view: LogView; filter: RequestFilter } | { ok: false; view: LogView; message: string };

/** What a chip says for each parameter. */
const LABELS: Record<Exclude<LogParameter, 'limit' | 'count' | 'before'>, string> = {
  ip: 'client', path: 'path contains', method: 'method', status: 'status', country: 'country', asn: 'ASN', user: 'user', ua: 'user agent contains',
  not_ip: 'not client', not_path: 'path lacks', not_method: 'not method', not_status: 'not status', not_country: 'not country', not_asn: 'not ASN', not_user: 'not user', not_ua: 'user agent lacks',
  since: 'since', until: 'until', blocked: 'blocked', limited: 'rate-limited',
};

/**
 * Reads the log's URL: a bad value is not thrown but returned with its message, so the page
 * can show the form again with the error (400) rather than a bare error page.
 *
 * @example
 * const read = readLogQuery(req.query, LOG_PARAMETERS, now);
 * if (!read.ok) sendPage(res, { ... read.message ... }, 400);
 */
export function readLogQuery(raw: unknown, names: readonly LogParameter[], now: number): ReadLog {
  // The view is built leniently first, so even a refused URL shows its values in the form.
  const given = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const view: LogView = { query: {}, count: false };
  for (const name of names) {
    const v = given[name];
    if (typeof v !== 'string' || v.trim() === '') continue;
    if (name === 'count') view.count = v === '1' || v === 'true';
    else if (name === 'limit') view.limit = v;
    else view.query[name] = v;
  }
  try {
    const text = readQuery(raw, names, names.includes('count') ? 'the request log' : 'the CSV export');
    if (text.count !== undefined && !['', '1', 'true', '0', 'false'].includes(text.count)) throw new FilterError('count must be 1 (count the matching requests) or left out');
    const { count: _c, ...input } = text;
    return { ok: true, view, filter: parseLogFilter(input, now) };
  } catch (err) {
    if (isIpwatchError(err) && err.status === 400) return { ok: false, view, message: err.message };
    throw err;
  }
}

/** The log with this view's filter and some parameters changed (undefined drops one); the cursor is dropped unless given. */
export function viewHref(view: LogView, change: Partial<Record<LogParameter, string | undefined>> = {}): string {
  const { before: _b, ...rest } = view.query;
  return href('/requests', { ...rest, limit: view.limit, ...change });
}

/** The active filters as chips, each with a link that removes it; the default time range said as such. */
export function filterChips(view: LogView): Html {
  const chips = (Object.keys(LABELS) as Array<keyof typeof LABELS>)
    .filter((name) => view.query[name] !== undefined)
    .map((name) => html`<span class="chip">${LABELS[name]} <b>${view.query[name]}</b><a class="x" href="${viewHref(view, { [name]: undefined })}" title="remove this filter" aria-label="remove ${LABELS[name]} ${view.query[name]}">✕</a></span>`);
  const defaultRange = view.query.since === undefined ? html`<span class="chip muted">the 24 hours before ${view.query.until === undefined ? 'now' : 'until'} (default; set since to widen)</span>` : '';
  const clear = chips.length ? html`<a href="${logHref({})}">clear all</a>` : '';
  return html`<div class="chips">${chips}${defaultRange}${clear}</div>`;
}
