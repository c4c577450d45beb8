/**
 * The daily report: one local calendar day of traffic and defence against the day before it.
 * Requests, clients, error rates, refusals; top clients, paths, countries, networks; detections,
 * blocks made and lifted, rate-limit refusals; requests per local hour. One query per file
 * (dailyReport*.ts); this one runs them and puts the answers together. The day's bounds are
 * computed in JS with Intl (dailyReportRange.ts): ClickHouse sees only epoch-ms parameters.
 */
import type { StoreConnection } from '../analytics.ts';
import { reportScope, type DailyReportQuery, type LocalDay } from './dailyReportRange.ts';
import { dailyReportHours, dailyReportTraffic, type DailyHour, type DailyTraffic, type Figure } from './dailyReportTraffic.ts';
import { dailyReportTop, type DailyTop } from './dailyReportTop.ts';
import { dailyReportBlocks, dailyReportDetections, dailyReportRateLimits, type DailyBlocks, type DailyDetections, type DailyRateLimits } from './dailyReportSecurity.ts';

/**
 * One day's report. Every count comes with the day before's (`previous`) and the change as a
 * ratio, (value - previous) / previous: 0.04 is +4%, null when the day before had none.
 * Strings from requests and geo data (paths, org names, rule sources) are stored text,
 * attacker-controlled: renderers escape them.
 */
export interface DailyReport {
  /** The local day, YYYY-MM-DD, and its zone (IANA, canonical). */
  date: string;
  timeZone: string;
  /** The day and the day before as UTC instants [since, until), epoch ms; hours is 23 or 25 on a DST change. */
  range: LocalDay;
  previousRange: LocalDay;
  /** When the report was made, epoch ms. */
  generatedAt: number;
  /** The length of the top lists asked for. */
  top: number;
  /** Headline figures. */
  totals: DailyTraffic & {
    detections: Figure;
    blocksMade: Figure;
    blocksLifted: Figure;
    /** Requests refused by rate limits, as rate_limit_events records them (sum of counts). */
    rateLimitRefusals: Figure;
  };
  /** The day's requests per local hour, from local midnight: 24 buckets, 23 or 25 on a DST change. */
  hourly: DailyHour[];
  /** Ranked by the day's requests; each row has the day before's count of the same key. */
  topClients: DailyTop['clients'];
  topPaths: DailyTop['paths'];
  topCountries: DailyTop['countries'];
  topNetworks: { asns: DailyTop['asns']; prefixes: DailyTop['prefixes'] };
  detections: DailyDetections;
  blocks: DailyBlocks;
  rateLimits: DailyRateLimits;
}

export type { DailyReportQuery };

/**
 * The report of one local day. Throws FilterError for a date that is not YYYY-MM-DD or not a
 * real day, an unknown time zone, or a `top` outside 1 to 100.
 *
 * @example
 * const r = await analytics.dailyReport({ date: '2026-11-30', timeZone: 'Europe/Paris' });
 * r.totals.requests; // { value: 10000, previous: 9615, change: 0.04 }
 * r.hourly.length;   // 24 (23 on 2026-03-29 in Paris)
 */
export async function dailyReport(conn: Pick<StoreConnection, 'client'>, query: DailyReportQuery): Promise<DailyReport> {
  const scope = reportScope(query);
  const generatedAt = query.now ?? Date.now();
  // One after another: chDB runs one query at a time anyway, and a server is spared a burst.
  const traffic = await dailyReportTraffic(conn, scope);
  const hourly = await dailyReportHours(conn, scope);
  const top = await dailyReportTop(conn, scope);
  const detections = await dailyReportDetections(conn, scope);
  const blocks = await dailyReportBlocks(conn, scope);
  const rateLimits = await dailyReportRateLimits(conn, scope);
  return {
    date: scope.day.date,
    timeZone: scope.timeZone,
    range: scope.day,
    previousRange: scope.previous,
    generatedAt,
    top: scope.top,
    totals: { ...traffic, detections: detections.total, blocksMade: blocks.made, blocksLifted: blocks.lifted, rateLimitRefusals: rateLimits.refusals },
    hourly,
    topClients: top.clients,
    topPaths: top.paths,
    topCountries: top.countries,
    topNetworks: { asns: top.asns, prefixes: top.prefixes },
    detections,
    blocks,
    rateLimits,
  };
}
