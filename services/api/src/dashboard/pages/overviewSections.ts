/**
 * The overview's parts, rendered from the store's `Overview`: the headline cards with the
 * change against the previous period, the charts (data for dashboard.js, a text summary
 * without JavaScript), and the top lists with bars, each value a link to the request log
 * filtered by it (and one excluding it). Every stored string goes in as a value of `html`.
 */
import type { Figure, Overview, OverviewBucket, RateFigure } from '@ipwatch/store';
import { dataJson, html, type Html } from '../html.ts';
import { clientHref, logHref, type LogFilterName, type LogQuery } from '../links.ts';

const count = (n: number) => n.toLocaleString('en');
const percent = (share: number | null) => (share === null ? '–' : `${(share * 100).toFixed(share < 0.001 && share > 0 ? 2 : 1)}%`);

/** "+12% vs 1,100" / "new" / "same"; up and down classes for dashboard.css. */
function change(f: Figure, label: string): Html {
  if (f.previous === 0) return html`<span class="change">${f.value === 0 ? `none in ${label} either` : `none in ${label}`}</span>`;
  const pct = (f.change ?? 0) * 100;
  const dir = pct > 0 ? 'up' : pct < 0 ? 'down' : '';
  const shown = Math.abs(pct) < 10 ? pct.toFixed(1) : pct.toFixed(0);
  return html`<span class="change ${dir}">${pct > 0 ? '+' : ''}${shown}% vs ${count(f.previous)} in ${label}</span>`;
}

/** A rate's change in percentage points (a share going from 2% to 3% is +1.0 pp). */
function rateChange(f: RateFigure, label: string): Html {
  if (f.previous === null) return html`<span class="change">no requests in ${label}</span>`;
  if (f.value === null) return html`<span class="change">was ${percent(f.previous)} in ${label}</span>`;
  const pp = (f.value - f.previous) * 100;
  const dir = pp > 0 ? 'up' : pp < 0 ? 'down' : '';
  return html`<span class="change ${dir}">${pp > 0 ? '+' : ''}${pp.toFixed(1)} pp vs ${percent(f.previous)} in ${label}</span>`;
}

/** The headline cards. `label` names the previous period ("the 24 h before"). */
export function cards(o: Overview, label: string, logFilter: LogQuery): Html {
  const t = o.totals;
  const card = (name: string, value: string, delta: Html, link?: string) =>
    html`<div class="card"><div class="label">${name}</div><div class="value">${link ? html`<a href="${link}">${value}</a>` : value}</div>${delta}</div>`;
  return html`<div class="cards">
${card('Requests', count(t.requests.value), change(t.requests, label), logHref(logFilter))}
${card('Server errors (5xx)', percent(t.serverErrorRate.value), rateChange(t.serverErrorRate, label), logHref({ ...logFilter, status: '5xx' }))}
${card('Client errors (4xx)', percent(t.clientErrorRate.value), rateChange(t.clientErrorRate, label), logHref({ ...logFilter, status: '4xx' }))}
${card('Blocked', count(t.blocked.value), change(t.blocked, label), logHref({ ...logFilter, blocked: 'true' }))}
${card('Rate-limited', count(t.rateLimited.value), change(t.rateLimited, label), logHref({ ...logFilter, limited: 'true' }))}
${card('Unique clients', count(t.uniqueClients.value), change(t.uniqueClients, label))}
${card('Detections', count(t.detections.value), change(t.detections, label), `/detections?since=${encodeURIComponent(logFilter.since ?? '')}`)}
${card('Blocks made', count(t.blocksMade.value), change(t.blocksMade, label), '/blocks')}
</div>`;
}

type SeriesKey = Exclude<keyof OverviewBucket, 'start'>;

/** A uPlot chart of some of the buckets' figures; without JavaScript, the totals and the busiest bucket. */
export function chart(series: OverviewBucket[], lines: Array<[SeriesKey, string]>, title: string): Html {
  const data = { x: series.map((b) => Math.floor(b.start / 1000)), series: lines.map(([key, label]) => ({ label, values: series.map((b) => b[key]) })) };
  const summary = lines.map(([key, label]) => {
    const total = series.reduce((s, b) => s + b[key], 0);
    const peak = series.reduce<OverviewBucket | null>((best, b) => (b[key] > (best?.[key] ?? 0) ? b : best), null);
    return html`<li>${label}: ${count(total)}${peak ? html`, most at <time datetime="${new Date(peak.start).toISOString()}">${utc(peak.start)}</time> (${count(peak[key])})` : ''}</li>`;
  });
  return html`<figure class="overview-chart"><figcaption>${title}</figcaption><div class="chart" data-chart="${dataJson(data)}"><ul class="chart-summary">${summary}</ul></div></figure>`;
}

/** UTC time as "2026-11-30 14:05 UTC". */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A compact UTC time for tables, "11-30 14:05", the full instant in its datetime and title. */
export function shortTime(ms: number): Html {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}" title="${utc(ms)}">${iso.slice(5, 16).replace('T', ' ')}</time>`;
}

/** A bar of `value` out of `max` (attributes only: the CSP forbids style=). */
function bar(value: number, max: number): Html {
  const pct = max > 0 ? Math.max(value > 0 ? 0.5 : 0, Math.round((value / max) * 1000) / 10) : 0;
  return html`<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="fill" width="${pct}" height="10"></rect></svg>`;
}

/** The value's link to the log filtered by it, and the small link excluding it. */
function filtered(logFilter: LogQuery, name: LogFilterName, value: string, shown: string | Html = value): Html {
  if (value === '') return html`<span class="muted">${shown === value ? '(none)' : shown}</span>`;
  return html`<a href="${logHref({ ...logFilter, [name]: value })}">${shown}</a> <a class="x" href="${logHref({ ...logFilter, [`not_${name}`]: value })}" title="exclude">not</a>`;
}

interface TopRow {
  requests: number;
  /** null: not known (the key was not among the previous period's sketched heavy hitters). */
  previous: number | null;
  change: number | null;
  /** The sketch's error bound on requests (0: exact). */
  error: number;
}

function trend(r: TopRow): Html {
  if (r.previous === null) return html`<span class="muted" title="not among the period before's busiest">–</span>`;
  if (r.previous === 0) return html`<span class="muted">new</span>`;
  const pct = (r.change ?? 0) * 100;
  return html`<span class="${pct > 0 ? 'up' : pct < 0 ? 'down' : ''}">${pct > 0 ? '+' : ''}${pct.toFixed(0)}%</span>`;
}

/** A top list: one cell per row from `cell`, then the bar, the count and the change. */
function topTable<R extends TopRow>(title: string, what: string, rows: R[], cell: (r: R) => Html, empty: string): Html {
  const max = Math.max(0, ...rows.map((r) => r.requests));
  return html`<section class="top"><h2>${title}</h2>${
    rows.length === 0
      ? html`<p class="muted">${empty}</p>`
      : html`<table><thead><tr><th>${what}</th><th class="barcell"></th><th class="num">requests</th><th class="num">vs before</th></tr></thead><tbody>${rows.map(
          (r) => html`<tr><td class="text">${cell(r)}</td><td class="barcell">${bar(r.requests, max)}</td><td class="num">${r.error > 0 ? html`<span title="at most ${count(r.error)} fewer">≈${count(r.requests)}</span>` : count(r.requests)}</td><td class="num">${trend(r)}</td></tr>`,
        )}</tbody></table>`
  }</section>`;
}

/** The five top lists. */
export function topLists(o: Overview, logFilter: LogQuery, top: number): Html {
  const none = 'No requests in this period.';
  return html`<div class="grid2">
${topTable('Top clients', 'client', o.topClients, (c) => html`<a class="addr" href="${clientHref(c.ip)}">${c.ip}</a> <a class="x" href="${logHref({ ...logFilter, ip: c.ip })}">log</a> <a class="x" href="${logHref({ ...logFilter, not_ip: c.ip })}" title="exclude">not</a>${c.country ? html` <span class="muted">${c.country}</span>` : ''}${c.org ? html` <span class="muted">${c.org}</span>` : ''}`, none)}
${topTable('Top paths', 'path', o.topPaths, (p) => filtered(logFilter, 'path', p.path), none)}
${topTable('Top countries', 'country', o.countries.filter((c) => c.requests > 0).slice(0, top).map((c) => ({ ...c, error: 0 })), (c) => filtered(logFilter, 'country', c.country, c.country || '(unknown)'), none)}
${topTable('Top networks', 'network (ASN)', o.topAsns, (a) => (a.asn === 0 ? html`<span class="muted">(no ASN)</span>` : html`${filtered(logFilter, 'asn', String(a.asn), `AS${a.asn}`)} <span class="muted">${a.org}</span>`), none)}
${topTable('Top user agents', 'user agent', o.topUserAgents, (u) => filtered(logFilter, 'ua', u.userAgent), none)}
</div>`;
}
