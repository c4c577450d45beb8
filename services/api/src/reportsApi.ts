/**
 * GET /api/reports/daily?date=YYYY-MM-DD&tz=Europe/Paris: the daily report of one local day
 * against the day before (the store's dailyReport), as JSON. The CLI's `ipwatch report --daily`
 * asks here first; the alerter builds the same report from the store for its emails.
 */
import type { RequestHandler } from 'express';
import { yesterdayIn, reportTimeZone, FilterError, type AnalyticsStore } from '@ipwatch/store';
import { readQuery } from './queryParameters.ts';

export interface DailyReportOptions {
  analytics: Pick<AnalyticsStore, 'dailyReport'>;
  now: () => number;
}

/**
 * Answers the DailyReport of `date` (default: yesterday in the zone) in `tz` (default UTC); a bad
 * date or zone is a 400 IPWATCH_BAD_FILTER saying what is accepted.
 *
 * @example
 * app.get('/api/reports/daily', dailyReportHandler({ analytics, now: Date.now }));
 * // GET /api/reports/daily?date=2015-05-17&tz=UTC -> { date, timeZone, totals: { requests: { value, previous, change } ... } ... }
 */
export function dailyReportHandler(options: DailyReportOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      const q = readQuery(req.query, ['date', 'tz', 'top'], 'GET /api/reports/daily');
      const timeZone = reportTimeZone(q.tz ?? 'UTC');
      const t = options.now();
      const date = q.date ?? yesterdayIn(timeZone, t);
      const top = q.top === undefined ? undefined : /^\d{1,3}$/.test(q.top) ? Number(q.top) : NaN;
      if (top !== undefined && Number.isNaN(top)) throw new FilterError(`top ${JSON.stringify(q.top!.slice(0, 20))} must be a whole number from 1 to 100`);
      res.json(await options.analytics.dailyReport({ date, timeZone, ...(top !== undefined && { top }), now: t }));
    } catch (err) {
      next(err);
    }
  };
}
