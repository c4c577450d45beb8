/**
 * The rate-limit refusals page (GET /rate-limits): rate_limit_events filtered by client (IP
 * or CIDR), limit rule and time (the URL holds the filter), the newest listed, and the
 * refusals per rule over the whole range and filter. Paths and user ids are attacker text:
 * values only, through `html`.
 */
import type { Router } from 'express';
import { FilterError, ipColumnRange, parseTimeBound, type ListRateLimitEventsQuery, type RateLimitEventRow } from '@ipwatch/store';
import { isIpwatchError } from '@ipwatch/core/errors';
import type { DashboardDeps } from '../router.ts';
import { html, href, type Html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { clientHref, logHref } from '../links.ts';
import { readQuery } from '../../queryParameters.ts';
import { shownMs } from './detections.ts';

const PARAMETERS = ['ip', 'rule', 'since', 'until', 'limit'] as const;
type Query = Partial<Record<(typeof PARAMETERS)[number], string>>;
const DAY_MS = 86_400_000;
const MAX_ROWS = 1000;

/**
 * The rate-limit filter from the URL (empty values mean "any"); without since, the 24 hours
 * before until (or now).
 *
 * @example
 * parseRateLimitQuery({ ip: '203.0.113.0/24', rule: 'login' }, now);
 */
export function parseRateLimitQuery(q: Query, now: number): ListRateLimitEventsQuery & { limit: number } {
  const out: ListRateLimitEventsQuery & { limit: number } = { limit: 100 };
  if (q.ip !== undefined) out.ip = ipColumnRange(q.ip.trim(), 'ip');
  if (q.rule !== undefined) {
    if (!/^[A-Za-z0-9_.:/-]{1,64}$/.test(q.rule)) throw new FilterError(`rule ${JSON.stringify(q.rule.slice(0, 40))} is not a limit rule name: give one as the table below lists it`);
    out.rule = q.rule;
  }
  if (q.until !== undefined) out.untilMs = parseTimeBound(q.until, now, 'until');
  out.sinceMs = q.since !== undefined ? parseTimeBound(q.since, now, 'since') : (out.untilMs ?? now) - DAY_MS;
  if (out.untilMs !== undefined && out.untilMs <= out.sinceMs) throw new FilterError('until is not after since: give a since earlier than until');
  if (q.limit !== undefined) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_ROWS) throw new FilterError(`limit ${JSON.stringify(q.limit.slice(0, 20))} must be a whole number from 1 to ${MAX_ROWS}`);
    out.limit = n;
  }
  return out;
}

function nonEmpty(raw: unknown): Query {
  const given = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const q: Query = {};
  for (const name of PARAMETERS) {
    const v = given[name];
    if (typeof v === 'string' && v.trim() !== '') q[name] = v;
  }
  return q;
}

const pageHref = (q: Query, change: Partial<Query> = {}) => href('/rate-limits', { ...q, ...change });

/** A window as people say it: 60 s, 15 min, 1 h. */
export function shownWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

function form(q: Query): Html {
  const field = (name: keyof Query, label: string, placeholder: string) => html`<label>${label}<input type="text" name="${name}" value="${q[name] ?? ''}" placeholder="${placeholder}" size="14"></label>`;
  return html`<form class="filters" method="get" action="/rate-limits">
${field('ip', 'client (IP or CIDR)', '203.0.113.0/24')}${field('rule', 'rule', 'login')}${field('since', 'since', '24h or ISO time')}${field('until', 'until', 'now')}
${q.limit ? html`<input type="hidden" name="limit" value="${q.limit}">` : ''}<button type="submit" class="primary">Filter</button>
${Object.keys(q).length ? html`<a href="/rate-limits">clear</a>` : ''}
</form>`;
}

function row(q: Query, r: RateLimitEventRow): Html {
  return html`<tr>
<td class="addr">${shownMs(r.ts)}</td>
<td class="addr"><a href="${clientHref(r.ip)}">${r.ip}</a> <a class="filt" href="${pageHref(q, { ip: r.ip })}" title="only this client's refusals">filter</a></td>
<td><a href="${pageHref(q, { rule: r.rule })}">${r.rule}</a></td>
<td class="num">${r.limit.toLocaleString('en')} / ${shownWindow(r.windowMs)}</td>
<td class="num">${r.count.toLocaleString('en')}</td>
<td class="text">${r.path ? html`<a href="${logHref({ path: r.path, limited: 'true' })}">${r.path}</a>` : html`<span class="muted">–</span>`}</td>
<td class="text">${r.userId ? html`<a href="${logHref({ user: r.userId })}">${r.userId}</a>` : html`<span class="muted">–</span>`}</td>
</tr>`;
}

export function registerRateLimits(router: Router, deps: DashboardDeps): void {
  router.get('/rate-limits', async (req, res) => {
    const title = 'Rate-limit refusals';
    const q = nonEmpty(req.query);
    let query: ListRateLimitEventsQuery & { limit: number };
    try {
      readQuery(req.query, PARAMETERS, 'the rate-limits page');
      query = parseRateLimitQuery(q, deps.now());
    } catch (err) {
      if (!isIpwatchError(err) || err.status !== 400) throw err;
      sendPage(res, { title, active: 'rate-limits', body: html`${form(q)}<p class="flash error" role="alert">${err.message}</p>` }, 400);
      return;
    }
    const { rows, byRule } = await deps.analytics.listRateLimitEvents(query);
    const total = byRule.reduce((s, r) => s + r.events, 0);
    const range = q.since === undefined ? html`<p class="muted">The 24 hours before ${q.until === undefined ? 'now' : 'until'} (set since to widen).</p>` : '';
    const rules = byRule.length === 0 ? '' : html`<h2>Refusals per rule</h2>
<table class="by-rule"><thead><tr><th>rule</th><th class="num">requests refused</th><th class="num">events</th><th class="num">clients</th></tr></thead>
<tbody>${byRule.map((r) => html`<tr><td><a href="${pageHref(q, { rule: r.rule })}">${r.rule}</a></td><td class="num">${r.refusals.toLocaleString('en')}</td><td class="num">${r.events.toLocaleString('en')}</td><td class="num">${r.clients.toLocaleString('en')}</td></tr>`)}</tbody></table>`;
    const table = rows.length === 0
      ? html`<p class="muted">No rate-limit refusal matches this filter in this time range.</p>`
      : html`<h2>Refusals${total > rows.length ? html` <span class="muted">(the newest ${rows.length.toLocaleString('en')} of ${total.toLocaleString('en')} events; narrow the range or the filter to see older ones)</span>` : ''}</h2>
<div class="log-scroll"><table class="log">
<thead><tr><th>time (UTC)</th><th>client</th><th>rule</th><th class="num">limit / window</th><th class="num">refused</th><th>path</th><th>user</th></tr></thead>
<tbody>${rows.map((r) => row(q, r))}</tbody></table></div>`;
    sendPage(res, { title, active: 'rate-limits', body: html`${form(q)}${range}${rules}${table}` });
  });
}
