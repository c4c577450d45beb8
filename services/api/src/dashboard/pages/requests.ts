/**
 * The request log (GET /requests) and its CSV export (GET /requests.csv): the filter lives in
 * the URL (links.ts names the parameters), pages go back in time by keyset on (ts, event_id)
 * (no OFFSET, no count unless cheap or asked for), and the export streams up to 100,000
 * matching rows, CSV-safe (csv.ts).
 */
import type { Response, Router } from 'express';
import type { RequestFilter } from '@ipwatch/store';
import type { DashboardDeps } from '../router.ts';
import { html, href } from '../html.ts';
import { sendPage } from '../layout.ts';
import { csvFileName, csvLine } from '../csv.ts';
import { CSV_PARAMETERS, LOG_PARAMETERS, readLogQuery, type LogView } from './requestsFilter.ts';
import { filterForm, logTable, pager, totalLine } from './requestsView.ts';

/** The most rows one export holds. */
export const CSV_MAX_ROWS = 100_000;
/** Rows fetched per query while exporting (each a keyset page, so memory stays flat). */
const CSV_CHUNK = 10_000;

const CSV_HEADER = ['time_utc', 'ip', 'method', 'host', 'path', 'status', 'country', 'asn', 'org', 'user', 'user_agent', 'blocked', 'rate_limited'];

function exportLink(view: LogView) {
  const { before: _b, ...query } = view.query;
  return html`<span><a class="button export" href="${href('/requests.csv', query)}" download>Export CSV</a> <span class="muted">this filter, newest first, up to ${CSV_MAX_ROWS.toLocaleString('en')} rows</span></span>`;
}

/** Waits until the socket has room (or is gone): a slow download does not pile rows up in memory. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function registerRequests(router: Router, deps: DashboardDeps): void {
  router.get('/requests', async (req, res) => {
    const read = readLogQuery(req.query, LOG_PARAMETERS, deps.now());
    const title = 'Requests';
    if (!read.ok) {
      const body = html`${filterForm(read.view)}<p class="flash error" role="alert">${read.message}</p>`;
      sendPage(res, { title, active: 'requests', body }, 400);
      return;
    }
    const { filter, view } = read;
    // One row more than shown says whether there is an older page, without counting.
    const [fetched, total] = await Promise.all([
      deps.analytics.listRequestLog({ ...filter, limit: filter.limit + 1 }),
      view.count ? deps.analytics.countRequests(withoutCursor(filter)) : Promise.resolve(null),
    ]);
    const more = fetched.length > filter.limit;
    const rows = more ? fetched.slice(0, filter.limit) : fetched;
    const body = html`${filterForm(view)}
<div class="log-bar">${totalLine(view, rows.length, more, filter.before === undefined, total)}${exportLink(view)}</div>
${logTable(view, rows)}
${pager(view, rows, more)}`;
    sendPage(res, { title, active: 'requests', body });
  });

  router.get('/requests.csv', async (req, res) => {
    const now = deps.now();
    const read = readLogQuery(req.query, CSV_PARAMETERS, now);
    if (!read.ok) {
      sendPage(res, { title: 'Export CSV', active: 'requests', body: html`<p class="flash error" role="alert">${read.message}</p><p><a href="/requests">Back to the request log</a></p>` }, 400);
      return;
    }
    res.status(200);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${csvFileName('requests', now)}"` });
    res.write(csvLine(CSV_HEADER));
    let filter: RequestFilter = { ...read.filter, limit: CSV_CHUNK };
    let written = 0;
    let aborted = false;
    res.on('close', () => (aborted = !res.writableFinished));
    try {
      while (written < CSV_MAX_ROWS && !aborted) {
        const rows = await deps.analytics.listRequestLog({ ...filter, limit: Math.min(CSV_CHUNK, CSV_MAX_ROWS - written) });
        let chunk = '';
        for (const r of rows) {
          chunk += csvLine([r.ts, r.ip, r.method, r.host, r.path, r.status, r.country, r.asn, r.org, r.user_id ?? r.login_user ?? '', r.user_agent, r.blocked, r.rate_limited]);
        }
        written += rows.length;
        if (chunk && !res.write(chunk)) await drained(res);
        const last = rows[rows.length - 1];
        if (!last || rows.length < CSV_CHUNK) break;
        filter = { ...filter, before: { tsMs: last.ts_ms, eventId: last.event_id } };
      }
      res.end();
    } catch (err) {
      // The header is sent: the only honest signal left is a broken download, never a short file that looks whole.
      deps.warn('dashboard: the CSV export failed part way', err);
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

function withoutCursor(filter: RequestFilter): Omit<RequestFilter, 'limit'> {
  const { before: _b, limit: _l, ...rest } = filter;
  return rest;
}
