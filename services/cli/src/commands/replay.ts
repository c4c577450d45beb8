import { parseArgs } from 'node:util';
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadConfig, type IpwatchConfig } from '@ipwatch/core/config';
import { codecs, SCHEMA_HEADER } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { OutgoingMessage } from '@ipwatch/core/eventLog';
import { parseCombinedLine } from '../replay/combinedLog.ts';
import { apiGet } from '../apiClient.ts';
import { createContext } from '../context.ts';
import { createStops, type Stops } from '@ipwatch/core/serviceProcess';
import type { ServiceContext } from '@ipwatch/core/service';
import { startLocalPipeline, type LocalPipeline } from '../pipeline.ts';
import { out, info, printable, UsageError } from '../output.ts';

export const help = `ipwatch replay <access.log> [--app NAME] [--host HOST] [--shift-to-now]
  Imports a web-server access log (Apache/nginx combined or common format) as request
  events: they are enriched and stored like live traffic. With Kafka configured the events
  go to the requests topic for the running services; embedded, this command runs the
  enricher and the sink itself (stop \`npm start\` first: one process owns the store) and
  waits until every event is stored. Lines that cannot be read are counted and skipped.
  Events older than the retention (IPWATCH_RETENTION_DAYS) are dropped by ClickHouse's TTL;
  --shift-to-now moves the whole log in time so its last event is now (for demos and tests).
  The last line printed is JSON: {"lines","replayed","skipped","expired","stored"}.`;

const CHUNK = 5000;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { app: { type: 'string' }, host: { type: 'string' }, 'shift-to-now': { type: 'boolean' } }, allowPositionals: true, strict: true });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('say which log to replay: ipwatch replay <access.log>');
  if (!existsSync(file)) throw new UsageError(`${JSON.stringify(file)} does not exist`);
  const config = loadConfig();
  const ctx = createContext(config);
  const embedded = ctx.log.kind === 'memory';
  // Everything this command starts is stopped on the way out, a failure half-way included.
  const stops = createStops(ctx.warn);
  stops.add('the event log', () => ctx.log.close());
  try {
    return await replay(file, values, config, ctx, embedded, stops);
  } finally {
    await stops.stopAll();
  }
}

async function replay(
  file: string,
  values: { app?: string | undefined; host?: string | undefined; 'shift-to-now'?: boolean | undefined },
  config: Readonly<IpwatchConfig>,
  ctx: ServiceContext,
  embedded: boolean,
  stops: Stops,
): Promise<number> {
  let pipeline: LocalPipeline | undefined;
  if (embedded) {
    const running = await apiGet(config, '/api/status').then(() => true, () => false);
    if (running) throw new UsageError('an ipwatch process (npm start?) is serving the api and owns the embedded store: stop it, then replay');
    const started = await startLocalPipeline(ctx);
    stops.add('the pipeline', () => started.stop());
    pipeline = started;
  }

  const instance = `replay:${process.pid}:${Date.now()}`;
  const app = values.app ?? 'replay';
  let lines = 0;
  let replayed = 0;
  const skipped: string[] = [];
  let skippedCount = 0;
  let chunk: OutgoingMessage[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    await ctx.log.produce(TOPICS.requests, chunk);
    replayed += chunk.length;
    chunk = [];
  };
  const readLines = () => createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let shiftMs = 0;
  if (values['shift-to-now']) {
    // A first pass finds the last event, so the log keeps its shape and ends now.
    let latest = -Infinity;
    for await (const line of readLines()) {
      const parsed = parseCombinedLine(line, { app });
      if (parsed.ok && parsed.event.ts > latest) latest = parsed.event.ts;
    }
    if (latest > -Infinity) shiftMs = Date.now() - latest;
  }
  const retainedFrom = Date.now() - config.retentionDays * 86_400_000;
  let expired = 0;
  for await (const line of readLines()) {
    lines++;
    if (line.trim() === '') continue;
    const parsed = parseCombinedLine(line, { app, instance, host: values.host });
    if (parsed.ok) {
      parsed.event.ts += shiftMs;
      if (parsed.event.ts < retainedFrom) expired++;
    }
    if (!parsed.ok) {
      skippedCount++;
      if (skipped.length < 5) skipped.push(`line ${lines}: ${parsed.reason}`);
      continue;
    }
    chunk.push({ key: parsed.event.ip, value: codecs.RequestEvent.encode(parsed.event), headers: { [SCHEMA_HEADER]: 'RequestEvent' } });
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  for (const s of skipped) info(`skipped ${printable(s)}`);
  if (skippedCount > skipped.length) info(`... and ${skippedCount - skipped.length} more lines skipped`);

  if (expired > 0) {
    info(`${expired} events are older than the retention of ${config.retentionDays} days: ClickHouse's TTL drops them (IPWATCH_RETENTION_DAYS, or --shift-to-now to move the log to the present)`);
  }
  const expected = replayed - expired;
  let stored: number | null = null;
  if (pipeline) stored = await pipeline.waitStored(instance, expected, 60_000 + replayed, retainedFrom);
  await stops.stopAll();
  out(embedded ? `replayed ${replayed} of ${lines} lines; ${stored} stored` : `replayed ${replayed} of ${lines} lines to ${TOPICS.requests}; the services will store them`);
  out(JSON.stringify({ lines, replayed, skipped: skippedCount, expired, stored }));
  return stored === null || stored >= expected ? 0 : 1;
}
