import { loadConfig } from '@ipwatch/core/config';
import { openAnalytics, listRequests, countRequests, parseRequestFilter, type RequestRow, type RequestFilterInput } from '@ipwatch/store';
import { apiGet, ApiUnreachable } from '../apiClient.ts';
import { out, info, printable } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch logs [--ip IP|CIDR] [--path TEXT] [--status 404|4xx|400-499|>=400]
             [--country CC] [--since 15m|2h|7d|ISO] [--until ...] [--limit N] [--json]
  Shows stored requests, newest first. Asks the running api (npm start, or the api service);
  when none answers, reads the store directly. Every filter given is applied: an option given
  twice, an empty value or a date the calendar does not have (2026-02-30) is refused.`;

const options = {
  ip: { type: 'string' }, path: { type: 'string' }, status: { type: 'string' }, country: { type: 'string' },
  since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgsOnce(argv, options);
  const input: RequestFilterInput = {
    ip: values.ip, path: values.path, status: values.status, country: values.country,
    since: values.since, until: values.until, limit: values.limit,
  };
  // Validate here too, so a typo is refused the same way whichever way the rows come.
  const filter = parseRequestFilter(input);
  const config = loadConfig();
  let result: { total: number; rows: RequestRow[] };
  try {
    result = await apiGet(config, '/api/v1/requests', { ...input, limit: String(filter.limit) });
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    if (config.clickhouse === null) info(`${err.message}; reading ${config.dataDir} directly`);
    const analytics = await openAnalytics(config).catch((e: Error) => {
      throw new ApiUnreachable(`${err.message}, and the store cannot be opened directly either (${e.message}). Is \`npm start\` running with another IPWATCH_API_PORT?`, { cause: e });
    });
    try {
      result = { rows: await listRequests(analytics, filter), total: await countRequests(analytics, filter) };
    } finally {
      await analytics.close();
    }
  }
  if (values.json) {
    out(JSON.stringify(result.rows));
    return 0;
  }
  // Every field came from a request or a geo provider: printable() keeps terminal escapes out.
  for (const r of result.rows) {
    const where = printable([r.country, r.city].filter(Boolean).join(' ') || '-');
    const latency = r.latency_ms < 10 ? r.latency_ms.toFixed(1) : String(Math.round(r.latency_ms));
    out(
      [
        printable(String(r.ts)).replace('T', ' ').slice(0, 23),
        printable(String(r.ip)).padEnd(15),
        where.padEnd(14).slice(0, 14),
        printable(String(r.method)).padEnd(6),
        // Marked when ipwatch answered rather than the app.
        `${Number(r.status)}${r.blocked ? ' blocked' : r.rate_limited ? ' limited' : ''}`.padEnd(11),
        `${latency}ms`.padStart(7),
        printable(String(r.path)).slice(0, 80),
      ].join('  '),
    );
  }
  info(`${result.rows.length} of ${result.total} matching requests`);
  return 0;
}
