/**
 * The SQL page (`GET /sql`): an analyst's own read-only query against the store, run by the
 * api's SQL service (sql/service.ts) in this process as the signed-in operator, with the
 * cookbook as starting points (`GET /sql?example=<id>` puts one in the form), the limits in
 * force and the tables' columns. `POST /sql` runs the query and shows the result as a table,
 * with a chart when it is a time series (sqlView.ts).
 *
 * The query travels in the form's body, never in a URL (the dashboard's own requests are
 * logged, query strings included), with the session's form token (`checkCsrf`): a query can
 * read every address and user id stored, so another site's page must not be able to run one
 * in an operator's session, even one whose answer it cannot read. A query refused (it writes),
 * stopped by a limit or that ClickHouse cannot run is the page again with the service's
 * message above the query as typed, at the error's status.
 */
import type { Request, Response, Router } from 'express';
import { isIpwatchError } from '@ipwatch/core/errors';
import type { SqlAnswer } from '../../sql/service.ts';
import { readQuery } from '../../queryParameters.ts';
import type { DashboardDeps } from '../router.ts';
import { checkCsrf, viewerOf } from '../access.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { field } from './manageForms.ts';
import { cookbookEntry, cookbookHtml, limitsHtml, resultHtml, sqlFormHtml, tablesHtml } from './sqlView.ts';

export const NO_SQL = 'This api runs without the SQL service, so this page cannot run queries: open the dashboard of `npm start`, `ipwatch dev` or `ipwatch run api`, which run it.';

interface PageState {
  sql: string;
  /** The cookbook entry the form was filled with. */
  example: string | null;
  error: string | null;
  answer: SqlAnswer | null;
}

function renderPage(res: Response, deps: DashboardDeps, state: PageState, status = 200): void {
  const sql = deps.sql;
  if (!sql) {
    sendPage(res, { title: 'SQL', active: 'sql', body: html`<p class="flash error">${NO_SQL}</p>` }, status < 400 ? 503 : status);
    return;
  }
  const body = html`<p>Ask the request log, the detections, the blocks and the rollups your own questions, in ClickHouse SQL. The answer is a table, and a chart when the first column is a time and others are numbers.</p>
<div class="sql-top">
<section class="sql-editor">
${sqlFormHtml(viewerOf(res).csrf, state.sql, state.error)}
${limitsHtml(sql.limits)}
</section>
${cookbookHtml(state.example, state.answer === null)}
</div>
${state.answer ? resultHtml(state.answer) : ''}
${tablesHtml()}`;
  sendPage(res, { title: 'SQL', active: 'sql', body }, status);
}

const blank: PageState = { sql: '', example: null, error: null, answer: null };

export function registerSql(router: Router, deps: DashboardDeps): void {
  router.get('/sql', (req: Request, res: Response) => {
    let example: string | undefined;
    try {
      example = readQuery(req.query, ['example'], 'the SQL page').example;
    } catch (err) {
      if (!isIpwatchError(err) || err.status >= 500) throw err;
      return renderPage(res, deps, { ...blank, error: err.message }, err.status);
    }
    if (example === undefined) return renderPage(res, deps, blank);
    const entry = cookbookEntry(example);
    if (!entry) return renderPage(res, deps, { ...blank, error: `The cookbook has no entry ${JSON.stringify(example.slice(0, 60))}: pick one from the list.` }, 404);
    renderPage(res, deps, { ...blank, sql: entry.sql, example: entry.id });
  });

  router.post('/sql', async (req: Request, res: Response) => {
    // Before anything else: a post without the session's token is refused outright (403, a page of its own).
    checkCsrf(req, res);
    const text = field(req, 'sql');
    if (!deps.sql) return renderPage(res, deps, { ...blank, sql: text });
    try {
      const answer = await deps.sql.run(text, viewerOf(res).caller.name);
      renderPage(res, deps, { ...blank, sql: text, answer });
    } catch (err) {
      // Refused, stopped by a limit, not valid, empty or too long: the service's message on the form.
      if (!isIpwatchError(err)) throw err;
      renderPage(res, deps, { ...blank, sql: text, error: err.message }, err.status);
    }
  });
}
