/** RequestEvents from the real access log in ../shared/data, for benchmarks (read with `ipwatch replay`'s parser). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RequestEvent } from '@ipwatch/core/schemas';
import { parseCombinedLine } from '../../services/cli/src/replay/combinedLog.ts';

export const ACCESS_LOG = join(fileURLToPath(new URL('../../..', import.meta.url)), 'shared', 'data', 'apache-combined-2015.log');

export function accessLogEvents(file = ACCESS_LOG): RequestEvent[] {
  if (!existsSync(file)) throw new Error(`${file} is missing: the benchmark replays that access log (it sits in ../shared/data beside the checkout)`);
  const events: RequestEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const parsed = parseCombinedLine(line, { app: 'bench', instance: 'bench', host: 'example.com' });
    if (parsed.ok) events.push({ ...parsed.event, latencyMs: 3.5 });
  }
  return events;
}
