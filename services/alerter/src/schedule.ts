/**
 * The daily report's schedule: at the configured local time (IPWATCH_REPORT_TIME in
 * IPWATCH_REPORT_TZ), the day before's report goes through every channel, once however many
 * alerters run (the first to claim the day in the ledger builds and sends it; the others see
 * it claimed or done). An alerter started after the time sends the day before's report if
 * nobody has; days before that are not caught up (`ipwatch report --daily --date` prints any).
 */
import type { AnalyticsStore } from '@ipwatch/store';
import type { Alerter } from './alerter.ts';
import type { AlertLedger } from './ledger.ts';
import { KEEP_SENT_MS, LEASE_MS } from './delivery.ts';
import { renderDailyReport } from './report/render.ts';

export interface ReportScheduleOptions {
  time: string;
  timeZone: string;
  dashboardUrl: string;
  analytics: AnalyticsStore;
  alerter: Alerter;
  ledger: AlertLedger;
  warn(message: string, err?: unknown): void;
  now?: () => number;
  /** How often the clock is checked (default 30 s). */
  checkEveryMs?: number;
}

export interface ReportSchedule {
  /** Checks the clock now; resolves with the day sent, or null when nothing was due (or another alerter has it). */
  check(): Promise<string | null>;
  stop(): Promise<void>;
}

/**
 * The local date and time of an instant in a time zone.
 *
 * @example
 * localTime(Date.parse('2026-03-29T01:30:00Z'), 'Europe/Paris'); // { date: '2026-03-29', time: '03:30' }
 */
export function localTime(ms: number, timeZone: string): { date: string; time: string } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(ms);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '00';
  return { date: `${get('year')}-${get('month')}-${get('day')}`, time: `${get('hour')}:${get('minute')}` };
}

/**
 * The calendar day before `date`.
 *
 * @example
 * dayBefore('2026-03-01'); // '2026-02-28'
 */
export function dayBefore(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

export function startReportSchedule(options: ReportScheduleOptions): ReportSchedule {
  const now = options.now ?? Date.now;
  let lastDone: string | null = null;
  let running: Promise<string | null> | null = null;

  async function check(): Promise<string | null> {
    const local = localTime(now(), options.timeZone);
    if (local.time < options.time) return null;
    const day = dayBefore(local.date);
    if (lastDone === day) return null;
    const key = `report:${day}`;
    const claim = await options.ledger.claim(key, options.alerter.instanceId, LEASE_MS);
    if (claim !== 'mine') {
      if (claim === 'done') lastDone = day;
      return null;
    }
    try {
      const report = await options.analytics.dailyReport({ date: day, timeZone: options.timeZone });
      const rendered = renderDailyReport(report, { url: options.dashboardUrl });
      const results = await options.alerter.broadcast({ id: `report-${day}`, severity: 'low', rendered }, 'report');
      for (const { channel, result } of results) {
        if (result.outcome === 'gave_up') options.warn(`alerter: the daily report of ${day} could not go by ${channel.name}: ${result.error.message}`);
      }
    } catch (err) {
      await options.ledger.release(key, options.alerter.instanceId);
      throw err;
    }
    await options.ledger.done(key, KEEP_SENT_MS);
    lastDone = day;
    return day;
  }

  const tick = (): void => {
    if (running) return;
    running = check().catch((err) => {
      options.warn('alerter: the daily report failed; it is tried again at the next check', err);
      return null;
    });
    void running.finally(() => {
      running = null;
    });
  };
  const timer = setInterval(tick, options.checkEveryMs ?? 30_000);
  timer.unref();
  tick();
  return {
    check,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
