import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { loadConfig, type IpwatchConfig } from '@ipwatch/core/config';
import { codecs, SCHEMA_HEADER } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { OutgoingMessage } from '@ipwatch/core/eventLog';
import { createFormatDetector, isLogFormat, LOG_FORMATS, PARSERS, type LogFormat } from '../replay/formats.ts';
import { NGINX_JSON_KEYS } from '../replay/nginxJson.ts';
import { followFile, type LineInfo } from '../replay/follow.ts';
import { apiGet } from '../apiClient.ts';
import { createContext } from '../context.ts';
import { createStops, type Stops } from '@ipwatch/core/serviceProcess';
import type { ServiceContext } from '@ipwatch/core/service';
import { startLocalPipeline, type LocalPipeline } from '../pipeline.ts';
import { untilSignal } from '../signals.ts';
import { out, info, printable, UsageError } from '../output.ts';

export const help = `ipwatch replay <access.log> [--format combined|common|nginx-json] [--follow] [--app NAME] [--host HOST] [--shift-to-now]
  Imports a web-server access log as request events: they are enriched and stored like live
  traffic. With Kafka configured the events go to the requests topic for the running services;
  embedded, this command runs the enricher and the sink itself (stop \`npm start\` first: one
  process owns the store) and waits until every event is stored. Lines that cannot be read
  are counted and skipped (the first few are shown with their line number and why), lines
  over 256 KiB among them.
  --format     combined (Apache/nginx default, common lines read too), common, or nginx-json
               (one JSON object per line, nginx \`log_format ... escape=json\`). Default: detected
               from the first lines that parse, and said on stderr.
               nginx-json reads these keys (nginx variable names; strings or numbers):
${NGINX_JSON_KEYS.map((k) => `                 ${k}`).join('\n')}
  --follow     after the end of the file, keep reading what is appended (like tail -F) until
               SIGINT/SIGTERM (lines written before the signal are replayed too): survives
               rotation (renamed and recreated: the old file is finished, the new one read from
               its start) and copytruncate (read again from the start). Events are sent at
               least every 200 ms.
  --app, --host  recorded on every event (--host when the line does not name one).
  --shift-to-now moves the whole log in time so its last event is now (for demos and tests);
               not with --follow (a followed log has no last line to move).
  Events older than the retention (IPWATCH_RETENTION_DAYS) are dropped by ClickHouse's TTL.
  The last line printed is JSON: {"lines","replayed","skipped","expired","stored"}.`;

const CHUNK = 5000;
/** While following, what was read is sent at least this often. */
const FOLLOW_FLUSH_MS = 200;
/** Longer lines are skipped (a bound on the memory one hostile line can take). */
const MAX_LINE_BYTES = 256 * 1024;

interface ReplayOptions {
  app?: string | undefined;
  host?: string | undefined;
  'shift-to-now'?: boolean | undefined;
  format?: string | undefined;
  follow?: boolean | undefined;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { app: { type: 'string' }, host: { type: 'string' }, 'shift-to-now': { type: 'boolean' }, format: { type: 'string' }, follow: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('say which log to replay: ipwatch replay <access.log>');
  if (values.format !== undefined && !isLogFormat(values.format)) {
    throw new UsageError(`--format ${JSON.stringify(printable(values.format))} is not one of ${LOG_FORMATS.join(', ')} (leave it out to detect the format)`);
  }
  if (values.follow && values['shift-to-now']) {
    throw new UsageError('--follow and --shift-to-now do not go together: --shift-to-now moves the log so its last line is now, and a followed log has no last line yet (its new lines are recent already); replay with --shift-to-now, or follow without it');
  }
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

async function replay(file: string, values: ReplayOptions, config: Readonly<IpwatchConfig>, ctx: ServiceContext, embedded: boolean, stops: Stops): Promise<number> {
  let pipeline: LocalPipeline | undefined;
  if (embedded) {
    const running = await apiGet(config, '/api/v1/status').then(() => true, () => false);
    if (running) throw new UsageError('an ipwatch process (npm start?) is serving the api and owns the embedded store: stop it, then replay');
    const started = await startLocalPipeline(ctx);
    stops.add('the pipeline', () => started.stop());
    pipeline = started;
  }

  const instance = `replay:${process.pid}:${Date.now()}`;
  const app = values.app ?? 'replay';
  const follow = values.follow === true;
  let format = values.format as LogFormat | undefined;

  let shiftMs = 0;
  if (values['shift-to-now']) {
    // A first pass finds the last event, so the log keeps its shape and ends now.
    const pass = new LineFormatter(format, (f, how) => info(`format: ${f} (${how})`));
    let latest = -Infinity;
    const see = (line: string, li: LineInfo) => {
      if (li.tooLong) return;
      const parsed = PARSERS[pass.format!](line, { app });
      if (parsed.ok && parsed.event.ts > latest) latest = parsed.event.ts;
    };
    const seeHeld = () => {
      for (const [line, li] of pass.take()) see(line, li);
    };
    await followFile(file, {
      maxLineBytes: MAX_LINE_BYTES,
      onLine: (line, li) => {
        if (pass.format) see(line, li);
        else if (pass.add(line, li)) seeHeld();
      },
      onCaughtUp: () => {
        if (pass.settle(true)) seeHeld();
      },
    });
    format = pass.format;
    if (latest > -Infinity) shiftMs = Date.now() - latest;
  }

  const retainedFrom = Date.now() - config.retention.requestsDays * 86_400_000;
  let lines = 0;
  let replayed = 0;
  let expired = 0;
  const skipped: string[] = [];
  let skippedCount = 0;
  let chunk: OutgoingMessage[] = [];
  // One send at a time, in order: the timer's and a full chunk's sends queue behind each other.
  let sending: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    sending = sending.then(async () => {
      if (chunk.length === 0) return;
      const batch = chunk;
      chunk = [];
      await ctx.log.produce(TOPICS.requests, batch);
      replayed += batch.length;
    });
    return sending;
  };
  const skip = (li: LineInfo, reason: string) => {
    skippedCount++;
    if (skipped.length < 5) skipped.push(`line ${li.lineNumber}${li.file > 0 ? ` of the file reopened (${li.file})` : ''}: ${reason}`);
  };
  const parseOptions = { app, instance, host: values.host };
  const handle = (line: string, li: LineInfo): Promise<void> | undefined => {
    lines++;
    if (line.trim() === '') return undefined;
    if (li.tooLong) {
      skip(li, `longer than ${MAX_LINE_BYTES} bytes`);
      return undefined;
    }
    const parsed = PARSERS[formatter.format!](line, parseOptions);
    if (!parsed.ok) {
      skip(li, parsed.reason);
      return undefined;
    }
    parsed.event.ts += shiftMs;
    if (parsed.event.ts < retainedFrom) expired++;
    chunk.push({ key: parsed.event.ip, value: codecs.RequestEvent.encode(parsed.event), headers: { [SCHEMA_HEADER]: 'RequestEvent' } });
    return chunk.length >= CHUNK ? flush() : undefined;
  };
  const formatter = new LineFormatter(format, (f, how) => info(`format: ${f} (${how})`));
  const release = async () => {
    for (const [line, li] of formatter.take()) await handle(line, li);
  };

  const stop = new AbortController();
  let failure: unknown;
  let timer: NodeJS.Timeout | undefined;
  if (follow) {
    void untilSignal().then(() => stop.abort());
    let timerSending = false;
    timer = setInterval(() => {
      if (timerSending) return; // a slow log: one timed send waits at a time, not one per tick
      timerSending = true;
      flush()
        .catch((err: unknown) => {
          failure ??= err;
          stop.abort();
        })
        .finally(() => (timerSending = false));
    }, FOLLOW_FLUSH_MS);
  }
  let unfinishedBytes = 0;
  try {
    const result = await followFile(file, {
      follow,
      signal: stop.signal,
      maxLineBytes: MAX_LINE_BYTES,
      onLine: (line, li) => {
        if (formatter.format) return handle(line, li);
        return formatter.add(line, li) ? release() : undefined;
      },
      onCaughtUp: async () => {
        if (formatter.settle(!follow)) await release();
        if (follow) await flush();
      },
      onReopen: (why) => info(why === 'rotated' ? `${file} was rotated: reading the new file from its start` : `${file} was truncated: reading it again from its start`),
    });
    unfinishedBytes = result.unfinishedBytes;
    // Stopped before the format was clear: what was held is read (and skipped, if need be) now.
    if (formatter.settle(true)) await release();
  } finally {
    if (timer) clearInterval(timer);
  }
  if (failure) throw failure;
  await flush();
  for (const s of skipped) info(`skipped ${printable(s)}`);
  if (skippedCount > skipped.length) info(`... and ${skippedCount - skipped.length} more lines skipped`);
  if (unfinishedBytes > 0) info(`the last ${unfinishedBytes} bytes had no end of line yet when following stopped: not replayed`);

  if (expired > 0) {
    info(`${expired} events are older than the retention of ${config.retention.requestsDays} days: ClickHouse's TTL drops them (IPWATCH_RETENTION_DAYS, or --shift-to-now to move the log to the present)`);
  }
  const expected = replayed - expired;
  let stored: number | null = null;
  if (pipeline) stored = await pipeline.waitStored(instance, expected, 60_000 + replayed, retainedFrom);
  await stops.stopAll();
  out(embedded ? `replayed ${replayed} of ${lines} lines; ${stored} stored` : `replayed ${replayed} of ${lines} lines to ${TOPICS.requests}; the services will store them`);
  out(JSON.stringify({ lines, replayed, skipped: skippedCount, expired, stored }));
  return stored === null || stored >= expected ? 0 : 1;
}

/**
 * Holds the first lines until their format is known (given, or detected once enough lines
 * parse), then hands them back in order.
 */
class LineFormatter {
  private held: Array<[string, LineInfo]> = [];
  private readonly detector = createFormatDetector();
  constructor(
    public format: LogFormat | undefined,
    private readonly said: (format: LogFormat, how: string) => void,
  ) {}

  /** Holds a line; true when the format is now known and the held lines can be taken. */
  add(line: string, li: LineInfo): boolean {
    this.held.push([line, li]);
    return this.detector.add(line) && this.settle(true);
  }

  /**
   * Decides from what was seen, if anything parsed; with `atLast`, falls back to combined
   * when nothing did. True when the format is known and lines are held.
   */
  settle(atLast: boolean): boolean {
    if (!this.format) {
      const detected = this.detector.decide();
      if (detected) {
        this.format = detected;
        this.said(detected, 'detected from the first lines that parse');
      } else if (atLast && this.held.some(([l]) => l.trim() !== '')) {
        this.format = 'combined';
        this.said('combined', 'no line read in a known format: reading as combined; --format says which');
      }
    }
    return this.format !== undefined && this.held.length > 0;
  }

  take(): Array<[string, LineInfo]> {
    const held = this.held;
    this.held = [];
    return held;
  }
}
