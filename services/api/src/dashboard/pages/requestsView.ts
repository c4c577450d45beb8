/**
 * The request log's markup: the filter form (GET, the current values filled in), the table
 * where every value links to the log filtered by it and to the log excluding it, and the
 * pager. Every value from a request goes in through `html`, so it can only become text.
 */
import type { RequestLogRow } from '@ipwatch/store';
import { html, href, type Html } from '../html.ts';
import { clientHref, type LogFilterName } from '../links.ts';
import { filterChips, viewHref, type LogView } from './requestsFilter.ts';

/** A time as the log shows it: UTC to the millisecond. */
export function shownTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}

/** A value that filters the log by itself, with a small link that excludes it. */
export function filterLinks(view: LogView, name: LogFilterName, value: string | number, shown: Html | string = String(value)): Html {
  const v = String(value);
  return html`<a href="${viewHref(view, { [name]: v })}" title="show only ${name} ${v}">${shown}</a><a class="x" href="${viewHref(view, { [`not_${name}`]: v })}" title="exclude ${name} ${v}" aria-label="exclude ${name} ${v}">✕</a>`;
}

function flagCell(view: LogView, name: 'blocked' | 'limited', on: boolean): Html {
  if (!on) return html``;
  return html`<a class="flag ${name}" href="${viewHref(view, { [name]: 'true' })}">${name}</a><a class="x" href="${viewHref(view, { [name]: 'false' })}" title="exclude ${name} requests">✕</a>`;
}

function row(view: LogView, r: RequestLogRow): Html {
  const user = r.user_id ?? r.login_user;
  return html`<tr>
<td class="addr">${shownTime(r.ts)}</td>
<td class="addr"><a href="${clientHref(r.ip)}" title="this client's page">${r.ip}</a> <a class="filt" href="${viewHref(view, { ip: r.ip })}" title="show only ${r.ip}">filter</a><a class="x" href="${viewHref(view, { not_ip: r.ip })}" title="exclude ${r.ip}" aria-label="exclude ${r.ip}">✕</a></td>
<td>${filterLinks(view, 'method', r.method)}</td>
<td class="text">${filterLinks(view, 'path', r.path)}</td>
<td class="num">${filterLinks(view, 'status', r.status)}</td>
<td>${r.country ? filterLinks(view, 'country', r.country) : html`<span class="muted">–</span>`}</td>
<td class="text">${r.asn ? html`${filterLinks(view, 'asn', r.asn, `AS${r.asn}`)} <span class="org">${r.org}</span>` : html`<span class="muted">–</span>`}</td>
<td class="text">${user ? filterLinks(view, 'user', user) : html`<span class="muted">–</span>`}</td>
<td class="text ua">${r.user_agent ? filterLinks(view, 'ua', r.user_agent) : html`<span class="muted">–</span>`}</td>
<td>${flagCell(view, 'blocked', r.blocked)} ${flagCell(view, 'limited', r.rate_limited)}</td>
</tr>`;
}

/** The table of one page of rows. */
export function logTable(view: LogView, rows: RequestLogRow[]): Html {
  if (rows.length === 0) return html`<p class="muted">No request matches this filter in this time range.</p>`;
  return html`<div class="log-scroll"><table class="log">
<thead><tr><th>time (UTC)</th><th>client</th><th>method</th><th>path</th><th class="num">status</th><th>country</th><th>network</th><th>user</th><th>user agent</th><th>flags</th></tr></thead>
<tbody>${rows.map((r) => row(view, r))}</tbody>
</table></div>`;
}

const field = (view: LogView, name: LogFilterName | 'since' | 'until', label: string, placeholder: string, size = 14) =>
  html`<label>${label}<input type="text" name="${name}" value="${view.query[name] ?? ''}" placeholder="${placeholder}" size="${size}"></label>`;

function choice(view: LogView, name: 'blocked' | 'limited', label: string): Html {
  const v = view.query[name];
  return html`<label>${label}<select name="${name}">
<option value=""${v === undefined ? html` selected` : ''}>any</option>
<option value="true"${v === 'true' ? html` selected` : ''}>yes</option>
<option value="false"${v === 'false' ? html` selected` : ''}>no</option>
</select></label>`;
}

/** The filter form: a GET to /requests; the exclusions ride along as hidden fields (their chips remove them). */
export function filterForm(view: LogView): Html {
  const hidden = (Object.entries(view.query) as Array<[string, string]>).filter(([k]) => k.startsWith('not_'));
  return html`<form class="filters" method="get" action="/requests">
${field(view, 'ip', 'IP or CIDR', '203.0.113.0/24', 18)}
${field(view, 'path', 'path contains', '/wp-login', 16)}
${field(view, 'method', 'method', 'GET', 6)}
${field(view, 'status', 'status', '404 or 4xx', 8)}
${field(view, 'country', 'country', 'DE', 4)}
${field(view, 'asn', 'ASN', '13335', 8)}
${field(view, 'user', 'user', 'id or username', 12)}
${field(view, 'ua', 'user agent contains', 'curl', 14)}
${field(view, 'since', 'since', '24h or ISO time', 12)}
${field(view, 'until', 'until', 'now', 12)}
${choice(view, 'blocked', 'blocked')}
${choice(view, 'limited', 'rate-limited')}
${hidden.map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
${view.limit ? html`<input type="hidden" name="limit" value="${view.limit}">` : ''}
<button type="submit" class="primary">Filter</button>
</form>
${filterChips(view)}`;
}

/** How many match: exact when the page holds them all or the count was asked for; otherwise a link to count. */
export function totalLine(view: LogView, shown: number, more: boolean, firstPage: boolean, total: number | null): Html {
  if (total !== null) return html`<p class="total"><b>${total.toLocaleString('en')}</b> requests match (counted).</p>`;
  if (firstPage && !more) return html`<p class="total"><b>${shown.toLocaleString('en')}</b> requests match.</p>`;
  return html`<p class="total">Showing ${shown.toLocaleString('en')} requests; more match. <a href="${href('/requests', { ...view.query, limit: view.limit, count: '1' })}">Count them</a> <span class="muted">(reads every matching request of the range: slower on a wide range)</span></p>`;
}

/** Newest and older links; older carries the cursor of the last row shown. */
export function pager(view: LogView, rows: RequestLogRow[], more: boolean): Html {
  const last = rows[rows.length - 1];
  const newest = view.query.before !== undefined ? html`<a href="${viewHref(view)}">⇤ newest</a>` : '';
  const older = more && last ? html`<a rel="next" href="${viewHref(view, { before: `${last.ts_ms},${last.event_id}` })}">older →</a>` : '';
  return html`<nav class="pager">${newest}${older}</nav>`;
}
