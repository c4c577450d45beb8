/**
 * The overview page, GET /: the last hour, 6 hours, day (default) or week against the period
 * of the same length before it. Headline cards with their change, requests and errors over
 * time, blocked and rate-limited over time (uPlot, drawn by dashboard.js from data
 * attributes), top clients, paths, countries, networks and user agents, the world map
 * (map.ts), the latest detections and blocks, and a live mode (?live=1) that reloads every
 * 15 seconds. The period ends at the next whole minute, so the per-minute rollup the series
 * and the map read counts exactly what the cards count.
 */
import type { Request, Response, Router } from 'express';
import { isIpwatchError } from '@ipwatch/core/errors';
import { FilterError, type Overview } from '@ipwatch/store';
import type { DashboardDeps } from '../router.ts';
import { href, html, type Html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { clientHref, detectionsHref, type LogQuery } from '../links.ts';
import { readQuery } from '../../queryParameters.ts';
import { worldMap } from '../map.ts';
import { cards, chart, shortTime, topLists, utc } from './overviewSections.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** The periods offered: length, chart bucket, and how the page names them. */
export const PERIODS = {
  '1h': { ms: HOUR, bucketMs: MINUTE, label: '1 hour', before: 'the hour before' },
  '6h': { ms: 6 * HOUR, bucketMs: 5 * MINUTE, label: '6 hours', before: 'the 6 h before' },
  '24h': { ms: 24 * HOUR, bucketMs: 15 * MINUTE, label: '24 hours', before: 'the 24 h before' },
  '7d': { ms: 7 * 24 * HOUR, bucketMs: HOUR, label: '7 days', before: 'the week before' },
} as const;
export type PeriodName = keyof typeof PERIODS;
export const DEFAULT_PERIOD: PeriodName = '24h';
export const LIVE_REFRESH_SECONDS = 15;
const TOP = 10;

export interface OverviewParams {
  period: PeriodName;
  live: boolean;
}

/**
 * The page's query parameters, typed: period (1h, 6h, 24h, 7d; default 24h) and live (1 or 0).
 * Throws FilterError (or UnknownParameterError for a name the page does not take) saying what is accepted.
 *
 * @example
 * overviewParams({ period: '6h', live: '1' }); // { period: '6h', live: true }
 * overviewParams({ period: '2h' });            // throws: period "2h" is not one of 1h, 6h, 24h, 7d
 */
export function overviewParams(query: unknown): OverviewParams {
  const q = readQuery(query, ['period', 'live'], 'the overview');
  const period = q.period ?? DEFAULT_PERIOD;
  if (!Object.hasOwn(PERIODS, period)) throw new FilterError(`period ${JSON.stringify(period.slice(0, 20))} is not one of ${Object.keys(PERIODS).join(', ')}: pick one of those (the default is ${DEFAULT_PERIOD})`);
  if (q.live !== undefined && q.live !== '1' && q.live !== '0') throw new FilterError(`live ${JSON.stringify(q.live.slice(0, 20))} must be 1 (reload every ${LIVE_REFRESH_SECONDS} s) or 0`);
  return { period: period as PeriodName, live: q.live === '1' };
}

/** The period's range: ending at the next whole minute after `now`. */
export function periodRange(period: PeriodName, now: number): { sinceMs: number; untilMs: number } {
  const untilMs = Math.ceil((now + 1) / MINUTE) * MINUTE;
  return { sinceMs: untilMs - PERIODS[period].ms, untilMs };
}

/** The period links and the live toggle (plain links: no JavaScript needed). */
function controls(params: OverviewParams, madeAt: number): Html {
  const link = (p: PeriodName, live: boolean) => href('/', { period: p === DEFAULT_PERIOD ? undefined : p, live: live ? '1' : undefined });
  return html`<div class="overview-controls">
<nav class="periods" aria-label="Period">${(Object.keys(PERIODS) as PeriodName[]).map((p) =>
    p === params.period ? html`<a class="period active" aria-current="true" href="${link(p, params.live)}">${p}</a>` : html`<a class="period" href="${link(p, params.live)}">${p}</a>`,
  )}</nav>
<span class="live">${params.live ? html`<b>Live</b>: reloads every ${LIVE_REFRESH_SECONDS} s · <a href="${link(params.period, false)}">stop</a>` : html`<a href="${link(params.period, true)}">Live mode</a>`}</span>
<span class="made muted">Made at <time datetime="${new Date(madeAt).toISOString()}">${new Date(madeAt).toISOString().slice(0, 19).replace('T', ' ')} UTC</time></span>
</div>`;
}

function latestDetections(o: Overview, since: string): Html {
  const rows = o.latestDetections;
  return html`<section class="latest"><h2>Detections <a class="more" href="${detectionsHref({ since })}">all of the period</a></h2>${
    rows.length === 0
      ? html`<p class="muted">No detections in this period.</p>`
      : html`<table><thead><tr><th>when (UTC)</th><th>client</th><th>rule</th><th>severity</th><th>mode</th><th>action</th></tr></thead><tbody>${rows.map((d) => {
          const client = d.client || d.ip;
          return html`<tr><td class="num">${shortTime(d.ts)}</td><td class="addr"><a href="${clientHref(client)}">${client}</a></td><td><a href="${detectionsHref({ rule: d.rule, since })}">${d.rule}</a></td><td class="sev-${d.severity}">${d.severity}</td><td>${d.mode}</td><td>${d.action}</td></tr>`;
        })}</tbody></table>`
  }</section>`;
}

function latestBlocks(o: Overview): Html {
  const rows = o.latestBlocks;
  return html`<section class="latest"><h2>Blocks made <a class="more" href="/blocks">block list</a></h2>${
    rows.length === 0
      ? html`<p class="muted">No blocks made in this period.</p>`
      : html`<table><thead><tr><th>when (UTC)</th><th>target</th><th>by</th><th>reason</th><th>until</th></tr></thead><tbody>${rows.map(
          (b) =>
            html`<tr><td class="num">${shortTime(b.ts)}</td><td class="addr"><a href="${clientHref(b.target)}">${b.target}</a></td><td>${b.source === 'manual' || b.source === 'import' ? html`${b.actor || b.source}` : html`<a href="${detectionsHref({ rule: b.source })}">${b.source}</a>`}</td><td class="text">${b.reason}</td><td class="num">${b.expiresAt === null ? 'never' : shortTime(b.expiresAt)}</td></tr>`,
        )}</tbody></table>`
  }</section>`;
}

/** The whole page's body. */
export function overviewBody(o: Overview, params: OverviewParams, madeAt: number): Html {
  const period = PERIODS[params.period];
  const logFilter: LogQuery = { since: params.period };
  const byCountry = new Map(o.countries.filter((c) => c.country !== '').map((c) => [c.country, c.requests]));
  return html`${controls(params, madeAt)}
<p class="muted period-range">The last ${period.label}: ${utc(o.range.sinceMs)} to ${utc(o.range.untilMs)}, compared with ${period.before}.</p>
${cards(o, period.before, logFilter)}
<div class="grid2">
${chart(o.series, [['requests', 'requests'], ['serverErrors', '5xx'], ['clientErrors', '4xx']], 'Requests and errors')}
${chart(o.series, [['blocked', 'blocked'], ['rateLimited', 'rate-limited']], 'Blocked and rate-limited')}
</div>
<section class="world"><h2>Where requests come from</h2>${worldMap(byCountry, logFilter)}</section>
${topLists(o, logFilter, TOP)}
<div class="grid2">
${latestDetections(o, params.period)}
${latestBlocks(o)}
</div>`;
}

function periodError(res: Response, message: string): void {
  const fallback: OverviewParams = { period: DEFAULT_PERIOD, live: false };
  sendPage(res, { title: 'Overview', active: 'overview', flash: { kind: 'error', text: message }, body: controls(fallback, Date.now()) }, 400);
}

/**
 * @example
 * registerOverview(router, deps); // GET /, GET /?period=7d, GET /?period=1h&live=1
 */
export function registerOverview(router: Router, deps: DashboardDeps): void {
  router.get('/', async (req: Request, res: Response) => {
    let params: OverviewParams;
    try {
      params = overviewParams(req.query);
    } catch (err) {
      if (isIpwatchError(err) && err.status === 400) return periodError(res, err.message);
      throw err;
    }
    const now = deps.now();
    const range = periodRange(params.period, now);
    const o = await deps.analytics.overview({ ...range, bucketMs: PERIODS[params.period].bucketMs, top: TOP, latest: 10 });
    sendPage(res, { title: 'Overview', active: 'overview', body: overviewBody(o, params, now), ...(params.live && { refreshSeconds: LIVE_REFRESH_SECONDS }) });
  });
}
