/** RequestEvents from the real access log in ../shared/data, for benchmarks. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalIp } from '@ipwatch/core/ip';
import type { RequestEvent } from '@ipwatch/core/schemas';

export const ACCESS_LOG = join(fileURLToPath(new URL('../../..', import.meta.url)), 'shared', 'data', 'apache-combined-2015.log');
const COMBINED = /^(\S+) \S+ \S+ \[[^\]]+\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"/;

export function accessLogEvents(file = ACCESS_LOG): RequestEvent[] {
  if (!existsSync(file)) throw new Error(`${file} is missing: the benchmark replays that access log (it sits in ../shared/data beside the checkout)`);
  const events: RequestEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = COMBINED.exec(line);
    const ip = m && canonicalIp(m[1]!);
    if (!m || !ip) continue;
    events.push({
      id: '', ts: 0, ip, ipAnonymisation: 'off', app: 'bench', instance: 'bench', method: m[2]!, host: 'example.com',
      path: m[3]!.slice(0, 2048), status: Number(m[4]), latencyMs: 3.5, bytes: m[5] === '-' ? 0 : Number(m[5]),
      userAgent: m[7]!.slice(0, 1024), referer: m[6]!.slice(0, 1024), userId: null, authenticated: false, blocked: false, rateLimited: false,
    });
  }
  return events;
}
