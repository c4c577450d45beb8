/**
 * The detections page (GET /detections): the scorer's detections filtered by rule, severity,
 * mode, client and time (the URL holds the filter), newest first, by keyset pages on (ts, id).
 * Each row links to its client and its rule; its evidence (attacker text among it: paths,
 * user agents, usernames) opens in a <details> as a definition list, escaped.
 */
import type { Router } from 'express';
import { FilterError, ipColumnRange, parseLogCursor, parseTimeBound, type DetectionRow, type ListDetectionsQuery } from '@ipwatch/store';
import { isIpwatchError } from '@ipwatch/core/errors';
import type { DashboardDeps } from '../router.ts';
import { html, href, type Html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { clientHref, logHref, ruleHref } from '../links.ts';
import { readQuery } from '../../queryParameters.ts';

const PARAMETERS = ['rule', 'severity', 'mode', 'client', 'since', 'until', 'before', 'limit'] as const;
type Parameter = (typeof PARAMETERS)[number];
type Query = Partial<Record<Parameter, string>>;
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const MODES = ['live', 'dry_run'];
const DAY_MS = 86_400_000;
const MAX_PAGE = 500;

/** Text for time bounds shown in tables: UTC to the second. */
export function shownMs(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * The detections filter from the URL: every value applied or refused with what is accepted
 * (empty values, as a form sends them, mean "any"); without since, the 24 hours before until
 * (or now).
 *
 * @example
 * parseDetectionsQuery({ rule: 'credential-stuffing', mode: 'live' }, now); // { rule, mode, sinceMs: now - 86400000, limit: 100 }
 */
export function parseDetectionsQuery(q: Query, now: number): ListDetectionsQuery & { limit: number } {
  const out: ListDetectionsQuery & { limit: number } = { limit: 100 };
  if (q.rule !== undefined) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(q.rule)) throw new FilterError(`rule ${JSON.stringify(q.rule.slice(0, 40))} is not a rule id: give one as the rules page lists it, such as credential-stuffing`);
    out.rule = q.rule;
  }
  if (q.severity !== undefined) {
    if (!SEVERITIES.includes(q.severity)) throw new FilterError(`severity ${JSON.stringify(q.severity.slice(0, 40))} is not a severity: give ${SEVERITIES.join(', ')}`);
    out.severity = q.severity;
  }
  if (q.mode !== undefined) {
    if (!MODES.includes(q.mode)) throw new FilterError(`mode ${JSON.stringify(q.mode.slice(0, 40))} is not a mode: give live or dry_run`);
    out.mode = q.mode;
  }
  if (q.client !== undefined) {
    const range = ipColumnRange(q.client.trim(), 'client');
    out.client = { text: q.client.trim(), ipFrom: range.from, ipTo: range.to };
  }
  if (q.until !== undefined) out.untilMs = parseTimeBound(q.until, now, 'until');
  out.sinceMs = q.since !== undefined ? parseTimeBound(q.since, now, 'since') : (out.untilMs ?? now) - DAY_MS;
  if (out.untilMs !== undefined && out.untilMs <= out.sinceMs) throw new FilterError('until is not after since: give a since earlier than until');
  if (q.before !== undefined) {
    const c = parseLogCursor(q.before.trim());
    out.before = { tsMs: c.tsMs, id: c.eventId };
  }
  if (q.limit !== undefined) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw new FilterError(`limit ${JSON.stringify(q.limit.slice(0, 20))} must be a whole number from 1 to ${MAX_PAGE}`);
    out.limit = n;
  }
  return out;
}

/** The URL's values, empty ones dropped (a form's empty field is "any"). */
function nonEmpty(raw: unknown): Query {
  const given = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const q: Query = {};
  for (const name of PARAMETERS) {
    const v = given[name];
    if (typeof v === 'string' && v.trim() !== '') q[name] = v;
  }
  return q;
}

const pageHref = (q: Query, change: Partial<Query> = {}) => {
  const { before: _b, ...rest } = q;
  return href('/detections', { ...rest, ...change });
};

/** The evidence map as a definition list, inside a <details> so a long one stays folded. */
export function evidenceDetails(evidence: Record<string, string>): Html {
  const entries = Object.entries(evidence).filter(([k]) => k !== 'summary');
  if (entries.length === 0) return html`<span class="muted">–</span>`;
  return html`<details class="evidence"><summary>${entries.length} ${entries.length === 1 ? 'item' : 'items'}</summary><dl>${entries.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></details>`;
}

function select(q: Query, name: 'severity' | 'mode', label: string, options: string[]): Html {
  return html`<label>${label}<select name="${name}"><option value="">any</option>${options.map((o) => html`<option value="${o}"${q[name] === o ? html` selected` : ''}>${o}</option>`)}</select></label>`;
}

function form(q: Query): Html {
  const field = (name: Parameter, label: string, placeholder: string) => html`<label>${label}<input type="text" name="${name}" value="${q[name] ?? ''}" placeholder="${placeholder}" size="14"></label>`;
  return html`<form class="filters" method="get" action="/detections">
${field('rule', 'rule', 'credential-stuffing')}${select(q, 'severity', 'severity', SEVERITIES)}${select(q, 'mode', 'mode', MODES)}
${field('client', 'client (IP or CIDR)', '203.0.113.7')}${field('since', 'since', '24h or ISO time')}${field('until', 'until', 'now')}
${q.limit ? html`<input type="hidden" name="limit" value="${q.limit}">` : ''}<button type="submit" class="primary">Filter</button>
${Object.keys(q).length ? html`<a href="/detections">clear</a>` : ''}
</form>`;
}

function row(q: Query, d: DetectionRow): Html {
  const client = d.client || d.ip;
  const summary = d.evidence.summary ?? '';
  return html`<tr>
<td class="addr">${shownMs(d.ts)}</td>
<td class="addr"><a href="${clientHref(client)}">${client}</a> <a class="filt" href="${pageHref(q, { client })}" title="only this client's detections">filter</a> <a class="filt" href="${logHref({ ip: d.ip, since: new Date(d.windowStart).toISOString(), until: new Date(d.windowEnd + 1).toISOString() })}" title="its requests in the detection's window">requests</a></td>
<td><a href="${ruleHref(d.rule)}">${d.rule}</a> <a class="filt" href="${pageHref(q, { rule: d.rule })}" title="only this rule">filter</a></td>
<td><a class="sev-${d.severity}" href="${pageHref(q, { severity: d.severity })}">${d.severity}</a>${d.mode === 'live' ? '' : html` <a class="muted" href="${pageHref(q, { mode: d.mode })}">${d.mode === 'dry_run' ? 'dry run' : d.mode}</a>`}</td>
<td>${d.action}${d.blockExpiresAt !== null ? html` <span class="muted">until ${shownMs(d.blockExpiresAt)}</span>` : ''}</td>
<td class="num">${d.count.toLocaleString('en')} / ${d.threshold.toLocaleString('en')}</td>
<td class="text">${summary}</td>
<td class="text">${evidenceDetails(d.evidence)}</td>
</tr>`;
}

export function registerDetections(router: Router, deps: DashboardDeps): void {
  router.get('/detections', async (req, res) => {
    const q = nonEmpty(req.query);
    let query: ListDetectionsQuery & { limit: number };
    try {
      readQuery(req.query, PARAMETERS, 'the detections page');
      query = parseDetectionsQuery(q, deps.now());
    } catch (err) {
      if (!isIpwatchError(err) || err.status !== 400) throw err;
      sendPage(res, { title: 'Detections', active: 'detections', body: html`${form(q)}<p class="flash error" role="alert">${err.message}</p>` }, 400);
      return;
    }
    const fetched = await deps.analytics.listDetections({ ...query, limit: query.limit + 1 });
    const more = fetched.length > query.limit;
    const rows = more ? fetched.slice(0, query.limit) : fetched;
    const last = rows[rows.length - 1];
    const range = q.since === undefined ? html`<p class="muted">The 24 hours before ${q.until === undefined ? 'now' : 'until'} (set since to widen).</p>` : '';
    const table = rows.length === 0
      ? html`<p class="muted">No detection matches this filter in this time range.</p>`
      : html`<div class="log-scroll"><table class="log">
<thead><tr><th>time (UTC)</th><th>client</th><th>rule</th><th>severity</th><th>action</th><th class="num">count / threshold</th><th>summary</th><th>evidence</th></tr></thead>
<tbody>${rows.map((d) => row(q, d))}</tbody></table></div>`;
    const pager = html`<nav class="pager">${q.before !== undefined ? html`<a href="${pageHref(q)}">⇤ newest</a>` : ''}${more && last ? html`<a rel="next" href="${pageHref(q, { before: `${last.ts},${last.id}` })}">older →</a>` : ''}</nav>`;
    sendPage(res, { title: 'Detections', active: 'detections', body: html`${form(q)}${range}${table}${pager}` });
  });
}
