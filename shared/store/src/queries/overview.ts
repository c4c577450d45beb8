/**
 * The dashboard's overview: a range of time (the last hour, day, week) against the range of
 * the same length before it. Headline figures, the series per bucket, top lists, requests per
 * country (the map), the latest detections and blocks. Headline figures, series and countries
 * come from the per-minute rollup (overviewSeries.ts); the top lists from the hourly and
 * five-minute heavy-hitter sketches (overviewTop.ts, overviewSketch.ts); detections and blocks made are the
 * daily report's own queries on its scope of any range (rangeScope). Bounded by time; one
 * query after another.
 */
import type { StoreConnection } from '../analytics.ts';
import { FilterError } from './requestFilter.ts';
import { rangeScope, MAX_REPORT_TOP, DEFAULT_REPORT_TOP } from './dailyReportRange.ts';
import { figure, type DailyTraffic, type Figure } from './dailyReportTraffic.ts';
import { overviewTops, type OverviewAsn, type OverviewClient, type OverviewPath, type OverviewUserAgent } from './overviewTop.ts';
import { blocksMade, dailyReportDetections } from './dailyReportSecurity.ts';
import { overviewCountries, overviewSeries, overviewTraffic, type OverviewBucket, type OverviewCountry } from './overviewSeries.ts';
import { latestBlocks, latestDetections, type OverviewBlock } from './overviewLatest.ts';
import type { DetectionRow } from './clientAnalysisDetections.ts';

export type { OverviewBucket, OverviewCountry, OverviewBlock, OverviewClient, OverviewPath, OverviewAsn, OverviewUserAgent };

export interface OverviewQuery {
  /** The range [sinceMs, untilMs), epoch ms; on minute boundaries for exact series and countries (the rollup counts minutes). */
  sinceMs: number;
  untilMs: number;
  /** The series' bucket: a whole number of minutes, at most 1,000 buckets in the range. */
  bucketMs: number;
  /** Rows per top list: 1 to 100, default 10. */
  top?: number;
  /** Latest detections and blocks listed: 1 to 100, default 10. */
  latest?: number;
}

/**
 * Every count with the previous range's and the change, (value - previous) / previous, null
 * when the previous range had none. Paths, user agents and org names are stored text,
 * attacker-controlled: renderers escape them.
 */
export interface Overview {
  range: { sinceMs: number; untilMs: number };
  previousRange: { sinceMs: number; untilMs: number };
  bucketMs: number;
  /** uniqueClients: the sketches' uniq states merged (exact up to tens of thousands, within about 1% beyond). */
  totals: DailyTraffic & {
    detections: Figure;
    /** block_events rows with action `block`. */
    blocksMade: Figure;
  };
  /** Whole buckets from the one holding sinceMs (it may start before the range) to untilMs; the last one may be in progress. */
  series: OverviewBucket[];
  topClients: OverviewClient[];
  topPaths: OverviewPath[];
  /** Every country of either range, most requests first (the map uses them all). */
  countries: OverviewCountry[];
  topAsns: OverviewAsn[];
  topUserAgents: OverviewUserAgent[];
  latestDetections: DetectionRow[];
  latestBlocks: OverviewBlock[];
}

const MINUTE = 60_000;
const MAX_BUCKETS = 1000;

/**
 * The overview of a range. Throws FilterError for a reversed range, a bucket that is not a
 * whole number of minutes or makes more than 1,000 buckets, or a bad `top`/`latest`.
 *
 * @example
 * const o = await analytics.overview({ sinceMs: now - 86_400_000, untilMs: now, bucketMs: 900_000 });
 * o.totals.requests; // { value: 10000, previous: 9615, change: 0.04 }
 * o.series.length;   // 96 (97 when the range does not start on a bucket: the first one starts before it)
 */
export async function overview(conn: Pick<StoreConnection, 'client'>, query: OverviewQuery): Promise<Overview> {
  const { sinceMs, untilMs, bucketMs } = query;
  const scope = rangeScope(sinceMs, untilMs, query.top ?? DEFAULT_REPORT_TOP);
  if (!Number.isSafeInteger(bucketMs) || bucketMs < MINUTE || bucketMs % MINUTE !== 0) throw new FilterError(`bucket ${bucketMs} ms is not a whole number of minutes: give 60000 or a multiple of it`);
  if ((untilMs - sinceMs) / bucketMs > MAX_BUCKETS) throw new FilterError(`${Math.ceil((untilMs - sinceMs) / bucketMs)} buckets is too many: give a bucket that cuts the range into at most ${MAX_BUCKETS}`);
  const latest = query.latest ?? 10;
  if (!Number.isInteger(latest) || latest < 1 || latest > MAX_REPORT_TOP) throw new FilterError(`latest ${JSON.stringify(String(latest).slice(0, 20))} must be a whole number from 1 to ${MAX_REPORT_TOP}`);
  // One after another: chDB runs one query at a time anyway, and a server is spared a burst.
  const traffic = await overviewTraffic(conn, { sinceMs, untilMs });
  // The first bucket whole: it starts on a multiple of the bucket, before the range when the range does not.
  const series = await overviewSeries(conn, { sinceMs: Math.floor(sinceMs / bucketMs) * bucketMs, untilMs, bucketMs });
  const tops = await overviewTops(conn, { sinceMs, untilMs, top: scope.top });
  const countries = await overviewCountries(conn, { sinceMs, untilMs });
  const detections = await dailyReportDetections(conn, scope);
  const made = await blocksMade(conn, scope);
  const range = { sinceMs, untilMs, limit: latest };
  return {
    range: { sinceMs, untilMs },
    previousRange: { sinceMs: scope.previous.since, untilMs: scope.previous.until },
    bucketMs,
    totals: { ...traffic, uniqueClients: figure(tops.distinctClients.value, tops.distinctClients.previous), detections: detections.total, blocksMade: made.made },
    series,
    topClients: tops.clients,
    topPaths: tops.paths,
    countries,
    topAsns: tops.asns,
    topUserAgents: tops.userAgents,
    latestDetections: await latestDetections(conn, range),
    latestBlocks: await latestBlocks(conn, range),
  };
}
