/**
 * `ipwatch report --daily`: the daily report of one local day against the day before, as the
 * alerter emails it (text, html) or as data (json). Asks the running api; when none answers,
 * reads the store directly.
 */
import { loadConfig } from '@ipwatch/core/config';
import { openAnalytics, reportScope, reportTimeZone, yesterdayIn, type DailyReport } from '@ipwatch/store';
// The alerter's renderer, by path: @ipwatch/alerter exports only its service entry point.
import { formatDailyReport, type ReportFormat } from '@ipwatch/alerter/report';
import { apiGet, ApiUnreachable } from '../apiClient.ts';
import { info, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch report --daily [--date YYYY-MM-DD] [--tz Area/City] [--format text|html|json]
  The daily report: requests, unique clients, error rates, blocked and rate-limited requests,
  top clients, paths, countries and networks, detections by rule and severity, blocks made and
  lifted, rate-limit refusals, each against the day before, and requests per local hour. The
  same report the alerter sends by email and webhook.
  Asks the running api (npm start, or the api service); when none answers, reads the store.
  --daily          the daily report (the only report there is for now)
  --date DAY       the local day, YYYY-MM-DD (default: yesterday in the zone)
  --tz ZONE        IANA time zone the day is counted in, e.g. Europe/Paris (default IPWATCH_REPORT_TZ, else UTC);
                   a DST day has 23 or 25 hours
  --format F       text (default: aligned columns), html (the email's document) or json
                   (the report as data, text exactly as stored)`;

const options = { daily: { type: 'boolean' }, date: { type: 'string' }, tz: { type: 'string' }, format: { type: 'string' } } as const;
const FORMATS: readonly ReportFormat[] = ['text', 'html', 'json'];

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgsOnce(argv, options);
  if (!values.daily) throw new UsageError('say which report: --daily (the only report for now), e.g. `ipwatch report --daily --date 2026-11-30 --tz Europe/Paris`');
  const format = (values.format ?? 'text') as ReportFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format ${JSON.stringify(values.format)} is not a format: use text, html or json`);
  const config = loadConfig();
  const timeZone = reportTimeZone(values.tz ?? config.alerts.report.timeZone);
  const date = values.date ?? yesterdayIn(timeZone);
  // Checked here too, so a bad date is refused the same way whichever way the report comes.
  reportScope({ date, timeZone });
  let report: DailyReport;
  try {
    report = await apiGet<DailyReport>(config, '/api/v1/reports/daily', { date, tz: timeZone });
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    if (config.clickhouse === null) info(`${err.message}; reading ${config.dataDir} directly`);
    const analytics = await openAnalytics(config).catch((e: Error) => {
      throw new ApiUnreachable(`${err.message}, and the store cannot be opened directly either (${e.message}). Is \`npm start\` running with another IPWATCH_API_PORT?`, { cause: e });
    });
    try {
      report = await analytics.dailyReport({ date, timeZone });
    } finally {
      await analytics.close();
    }
  }
  // formatDailyReport makes every stored string one printable line in text; html escapes it; json keeps it exactly.
  process.stdout.write(formatDailyReport(report, format));
  if (format !== 'json') info(`report of ${report.date} (${report.timeZone}), made ${new Date(report.generatedAt).toISOString()}`);
  return 0;
}
