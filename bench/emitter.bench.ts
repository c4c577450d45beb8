/**
 * What the emitter costs an app, raced against the loggers a user would put there instead,
 * in one run: an Express app under autocannon on loopback, in alternated rounds of
 *   baseline  the app alone;
 *   emitter   with the ipwatch middleware publishing to the event log (the real Kafka broker
 *             when IPWATCH_KAFKA_BROKERS is set, else the in-process log);
 *   pino      with pino-http writing to a file: pino.destination({ dest, sync: false }), the
 *             asynchronous destination pino's documentation recommends for throughput;
 *   morgan    with morgan('combined') writing to fs.createWriteStream(file, { flags: 'a' });
 *   nulllog   the emitter producing to a log that discards: its own cost, without Kafka;
 * on two routes: hello world (`res.send('hello world')`), and a realistic one answering
 * JSON after about a millisecond of work (an object of 300 fields built and serialised as
 * many times as a calibration at start says make ~1 ms, timed at its fastest; the last one
 * is the response).
 *
 *   tsx scripts/with-kafka.ts bench/emitter.bench.ts [--duration 2] [--pairs 6] [--connections 50]
 *     [--variants baseline,emitter,pino,morgan,noop,nulllog] [--routes hello,realistic] [--linger MS] [--batch N] [--cpu-profile PATH]
 *
 * Each round runs the four apps in turn, the order rotated per round so drift (JIT warm-up,
 * broker compaction, a noisy neighbour) falls on every side; ratios are each variant's req/s
 * over the baseline's of the same round (median over rounds). The load generator runs in a
 * child process (bench/support/loadProcess.ts), so process.cpuUsage() of this process over
 * a round is the app's own CPU (its thread, GC helpers, kafkajs, pino's and morgan's writes);
 * divided by the round's requests it gives CPU per request, and minus the baseline's of the
 * same round what each one adds. The last line of stdout is one JSON object with the
 * figures; progress goes to stderr.
 *
 * Last runs (three, 2 vCPU shared with the broker and other jobs, load average 2-8):
 * hello world: emitter 0.69-0.82 (app CPU +27-74 us per request), pino-http 0.65-0.68
 * (+70-96 us), morgan 0.57-0.70 (+81-104 us), the emitter without Kafka 0.79-0.89 (+13-36 us);
 * realistic route (~1 ms): emitter 0.973-0.975, pino-http 0.91-0.98, morgan 0.93-1.01 (in
 * bench:all's run, 0.773 on hello world and 0.884 / 0.888 / 0.895 on the realistic route).
 * 0 events dropped. Where the time goes (bench/support/emitterCost.ts, CPU per event without
 * HTTP): the emitter 3.2-3.8 us (Avro encoding 0.8-1.5), kafkajs 14.5-19.4 us, the broker
 * 3.5-7 us (more with smaller batches: 10-20 us per request at the default 50 ms linger under
 * this load). Tried: gzip (kafkajs 21 us per event: worse); a 200 ms linger with batches of
 * up to 2,000 (`--variants baseline,emitter,tuned --linger 200 --batch 2000`): the broker
 * -10 us and the app -7 us per request, ratio +0.08 in the same run, at up to 150 ms more
 * detection latency, so not the default. See the README's Performance section and
 * bench/RESULTS.md (npm run bench:all).
 */
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import morgan from 'morgan';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { listen, median, round2, type LoadResult } from './support/load.ts';
import { loadFromProcess } from './support/loadProcess.ts';
import { brokerPid, processCpuUs } from './support/processCpu.ts';
import { loadConfig } from '@ipwatch/core/config';
import type { EventLog } from '@ipwatch/core/eventLog';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { ipwatch } from '@ipwatch/emitter';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '2' },
    /** Rounds (each runs every variant once). */
    pairs: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    /** Only these variants (comma-separated), e.g. baseline,emitter for a quick look or a profile; also noop, nulllog. */
    variants: { type: 'string', default: 'baseline,emitter,nulllog,pino,morgan' },
    /** Only these routes (comma-separated): hello, realistic. */
    routes: { type: 'string', default: 'hello,realistic' },
    /** Write a CPU profile of this process's main thread during each measured round to <path>.<route>.<round>.<variant>.cpuprofile (open in Chrome's DevTools). */
    'cpu-profile': { type: 'string' },
    /** The `tuned` variant's buffer: flushIntervalMs and maxBatch (the emitter's defaults otherwise). */
    linger: { type: 'string' },
    batch: { type: 'string' },
  },
});
const DURATION_S = Number(args.duration);
const ROUNDS = Number(args.pairs);
const CONNECTIONS = Number(args.connections);
const WARMUP_S = Number(args.warmup);
/**
 * For looking into the emitter's cost: nulllog (the emitter producing to a log that discards:
 * its own cost without Kafka); not run by default: noop (an Express middleware that only
 * calls next()), tuned (the emitter with --linger/--batch, beside the default one).
 */
const ALL_VARIANTS = ['baseline', 'emitter', 'pino', 'morgan', 'noop', 'nulllog', 'tuned'] as const;
type Variant = (typeof ALL_VARIANTS)[number];
const VARIANTS = ALL_VARIANTS.filter((v) => args.variants.split(',').includes(v));
const ALL_ROUTES = ['hello', 'realistic'] as const;
type Route = (typeof ALL_ROUTES)[number];
const ROUTES = ALL_ROUTES.filter((r) => args.routes.split(',').includes(r));
if (!VARIANTS.includes('baseline')) throw new Error('--variants must include baseline (the ratios are against it)');

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** One object of 300 fields (numbers, strings, a nested array every tenth), as an API might answer. */
function buildObject(seed: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < 300; i++) {
    const k = `field_${i}`;
    if (i % 10 === 0) o[k] = [seed + i, (seed * 31 + i) % 997, `item-${i}`];
    else if (i % 3 === 0) o[k] = `value ${seed % 1000} of ${i}`;
    else o[k] = (seed * 2654435761 + i * 40503) % 1_000_003;
  }
  return o;
}

/** `times` objects built and serialised; the last one's JSON. */
function work(times: number, seed: number): string {
  let json = '';
  for (let t = 0; t < times; t++) json = JSON.stringify(buildObject(seed + t));
  return json;
}

/**
 * How many builds make ~1 ms of work on this machine: the fastest of several timings after
 * warm-up (other jobs on the machine only ever make a timing slower), and that many builds timed again.
 */
function calibrate(): { times: number; workMs: number } {
  for (let i = 0; i < 300; i++) work(1, i);
  let per = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    work(20, r);
    per = Math.min(per, (performance.now() - t0) / 20);
  }
  const times = Math.max(1, Math.round(1 / per));
  let workMs = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    work(times, r);
    workMs = Math.min(workMs, performance.now() - t0);
  }
  return { times, workMs };
}

function makeApp(route: Route, times: number, middleware?: express.RequestHandler): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  if (middleware) app.use(middleware);
  let n = 0;
  if (route === 'hello') {
    app.get('/', (_req, res) => {
      res.send('hello world');
    });
  } else {
    app.get('/', (_req, res) => {
      res.type('json').send(work(times, n++ % 1000));
    });
  }
  return app;
}

interface Round extends LoadResult {
  /** The app process's CPU (user + system) per request over the round, in microseconds. */
  cpuUs: number;
  /** The load generator's CPU per request (its process, start-up included). */
  loadCpuUs: number;
  /** The Kafka broker's CPU per request over the round (null without a broker process to read). */
  brokerCpuUs: number | null;
}

const cpuNow = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function main(): Promise<void> {
  const config = loadConfig();
  let log: EventLog;
  if (config.kafka) {
    log = createKafkaEventLog({ brokers: config.kafka.brokers, clientId: 'ipwatch-bench-emitter' });
    await log.ensureTopics(topicSpecs(config.kafka.topicPartitions).filter((t) => t.name === TOPICS.requests));
    say(`event log: kafka at ${config.kafka.brokers.join(',')}`);
  } else {
    log = createMemoryEventLog();
    say('event log: in-process (IPWATCH_KAFKA_BROKERS not set)');
  }
  const broker = config.kafka ? brokerPid() : null;
  say(broker === null ? 'broker process: not found (its CPU is not counted)' : `broker process: ${broker}`);
  const dir = mkdtempSync(join(tmpdir(), 'ipwatch-bench-emitter-'));
  const pinoFile = join(dir, 'pino.log');
  const morganFile = join(dir, 'morgan.log');
  const pinoDest = pino.destination({ dest: pinoFile, sync: false });
  const morganStream = createWriteStream(morganFile, { flags: 'a' });
  const bufferOptions = { ...(args.linger !== undefined && { flushIntervalMs: Number(args.linger) }), ...(args.batch !== undefined && { maxBatch: Number(args.batch) }) };
  const tracker = ipwatch({ log, app: 'bench' });
  const tunedTracker = ipwatch({ log, app: 'bench', bufferOptions });
  const discarding = { produce: () => Promise.resolve() } as unknown as EventLog;
  const nullTracker = ipwatch({ log: discarding, app: 'bench' });
  const middlewares: Record<Variant, express.RequestHandler | undefined> = {
    baseline: undefined,
    noop: (_req, _res, next) => next(),
    nulllog: nullTracker as unknown as express.RequestHandler,
    tuned: tunedTracker as unknown as express.RequestHandler,
    emitter: tracker as unknown as express.RequestHandler,
    pino: pinoHttp({ logger: pino(pinoDest) }) as unknown as express.RequestHandler,
    morgan: morgan('combined', { stream: morganStream }),
  };

  const { times, workMs } = calibrate();
  say(`realistic route: ${times} builds of a 300-field object per request, ${workMs.toFixed(3)} ms of work measured`);

  const servers: Array<{ route: Route; variant: Variant; server: import('node:http').Server; url: string }> = [];
  for (const route of ROUTES) {
    for (const variant of VARIANTS) servers.push({ route, variant, ...(await listen(makeApp(route, times, middlewares[variant]))) });
  }
  const urlOf = (route: Route, variant: Variant): string => servers.find((s) => s.route === route && s.variant === variant)!.url;

  const profiler = args['cpu-profile'] ? new Session() : null;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
  }

  async function round(route: Route, variant: Variant, durationS: number, profileAs?: string): Promise<Round> {
    const profiling = profiler !== null && profileAs !== undefined;
    if (profiling) await profiler.post('Profiler.start');
    const c0 = cpuNow();
    const b0 = processCpuUs(broker);
    const r = await loadFromProcess(urlOf(route, variant), CONNECTIONS, durationS);
    await sleep(300); // what the round left behind (batches in flight, log writes) is the round's
    const cpu = cpuNow() - c0;
    const b1 = processCpuUs(broker);
    if (profiling) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${args['cpu-profile']}.${profileAs}.${variant}.cpuprofile`, JSON.stringify(profile));
    }
    const { loadCpuUs, ...load } = r;
    return { ...load, cpuUs: cpu / r.requests, loadCpuUs: loadCpuUs / r.requests, brokerCpuUs: b0 !== null && b1 !== null ? (b1 - b0) / r.requests : null };
  }

  // Warm-up: JIT, and Kafka's first produce (connect, metadata) before measuring.
  say(`warm-up ${WARMUP_S} s each`);
  for (const route of ROUTES) for (const variant of VARIANTS) await round(route, variant, WARMUP_S);

  const rounds: Record<Route, Array<Record<Variant, Round>>> = { hello: [], realistic: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const route of ROUTES) {
      const order = VARIANTS.map((_, j) => VARIANTS[(i + j) % VARIANTS.length]!);
      if (i % 2 === 1) order.reverse();
      const r = {} as Record<Variant, Round>;
      for (const variant of order) {
        await sleep(200);
        r[variant] = await round(route, variant, DURATION_S, `${route}.${i + 1}`);
        const x = r[variant];
        say(`round ${i + 1} ${route.padEnd(9)} ${variant.padEnd(8)} ${x.rps.toFixed(0).padStart(7)} req/s  p50 ${x.p50Ms.toFixed(3)} ms  p99 ${x.p99Ms.toFixed(3)} ms  cpu ${x.cpuUs.toFixed(1)} us/req (load ${x.loadCpuUs.toFixed(1)}, broker ${x.brokerCpuUs?.toFixed(1) ?? '-'})  errors ${x.errors + x.non2xx}`);
      }
      rounds[route].push(r);
    }
  }

  await tracker.close(10_000);
  await nullTracker.close(1_000);
  await tunedTracker.close(10_000);
  const stats = tracker.stats();
  for (const s of servers) {
    s.server.closeAllConnections();
    s.server.close();
  }
  await log.close();
  pinoDest.flushSync();
  await new Promise<void>((res) => morganStream.end(res));
  const logBytes = { pino: statSync(pinoFile).size, morgan: statSync(morganFile).size };
  rmSync(dir, { recursive: true, force: true });

  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  const summary = (route: Route, variant: Variant) => {
    const rs = rounds[route];
    if (rs.length === 0) return null;
    const ratios = rs.map((r) => r[variant].rps / r.baseline.rps);
    return {
      ratio: r3(median(ratios)),
      ratios: ratios.map(r3),
      rps: Math.round(median(rs.map((r) => r[variant].rps))),
      p50_ms: round2(median(rs.map((r) => r[variant].p50Ms))),
      p99_ms: round2(median(rs.map((r) => r[variant].p99Ms))),
      cpu_us_per_req: r1(median(rs.map((r) => r[variant].cpuUs))),
      /** The ratio if the app's own CPU were all that limits it (a core of its own): baseline's CPU per request over this one's. */
      cpu_bound_ratio: r3(median(rs.map((r) => r.baseline.cpuUs / r[variant].cpuUs))),
      cpu_us_added: r1(median(rs.map((r) => r[variant].cpuUs - r.baseline.cpuUs))),
      load_cpu_us_per_req: r1(median(rs.map((r) => r[variant].loadCpuUs))),
      broker_cpu_us_per_req: rs[0]![variant].brokerCpuUs === null ? null : r1(median(rs.map((r) => r[variant].brokerCpuUs!))),
    };
  };
  const byVariant = (variant: Variant) => Object.fromEntries(ROUTES.map((route) => [route, summary(route, variant)]));
  const hello = ROUTES.includes('hello') ? summary('hello', 'emitter') : null;
  const realistic = ROUTES.includes('realistic') ? summary('realistic', 'emitter') : null;
  const result = {
    bench: 'emitter',
    log: log.kind,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    rounds: ROUNDS,
    throughput_ratio: hello?.ratio ?? null,
    realistic_ratio: realistic?.ratio ?? null,
    p99_added_us: hello ? Math.round(median(rounds.hello.map((r) => (r.emitter.p99Ms - r.baseline.p99Ms) * 1000))) : null,
    emitter_cpu_us_added: { hello: hello?.cpu_us_added ?? null, realistic: realistic?.cpu_us_added ?? null },
    emitter_cpu_bound_ratio: { hello: hello?.cpu_bound_ratio ?? null, realistic: realistic?.cpu_bound_ratio ?? null },
    emitter_without_kafka: VARIANTS.includes('nulllog')
      ? { hello_ratio: summary('hello', 'nulllog')?.ratio ?? null, realistic_ratio: summary('realistic', 'nulllog')?.ratio ?? null, cpu_us_added: { hello: summary('hello', 'nulllog')?.cpu_us_added ?? null, realistic: summary('realistic', 'nulllog')?.cpu_us_added ?? null }, log: 'a log whose produce discards' }
      : null,
    peers: {
      pino_http: VARIANTS.includes('pino') ? { hello_ratio: summary('hello', 'pino')?.ratio ?? null, realistic_ratio: summary('realistic', 'pino')?.ratio ?? null, cpu_us_added: { hello: summary('hello', 'pino')?.cpu_us_added ?? null, realistic: summary('realistic', 'pino')?.cpu_us_added ?? null }, cpu_bound_ratio: { hello: summary('hello', 'pino')?.cpu_bound_ratio ?? null, realistic: summary('realistic', 'pino')?.cpu_bound_ratio ?? null }, destination: 'pino.destination({ sync: false }) to a file' } : null,
      morgan: VARIANTS.includes('morgan') ? { hello_ratio: summary('hello', 'morgan')?.ratio ?? null, realistic_ratio: summary('realistic', 'morgan')?.ratio ?? null, cpu_us_added: { hello: summary('hello', 'morgan')?.cpu_us_added ?? null, realistic: summary('realistic', 'morgan')?.cpu_us_added ?? null }, cpu_bound_ratio: { hello: summary('hello', 'morgan')?.cpu_bound_ratio ?? null, realistic: summary('realistic', 'morgan')?.cpu_bound_ratio ?? null }, destination: "morgan('combined') to fs.createWriteStream" } : null,
    },
    ...(VARIANTS.includes('tuned') && { tuned_buffer_options: bufferOptions }),
    realistic_route: { builds_per_request: times, work_ms: round2(workMs) },
    variants: Object.fromEntries(VARIANTS.map((v) => [v, byVariant(v)])),
    log_file_bytes: logBytes,
    events: { recorded: stats.recorded, produced: stats.sent, dropped: stats.dropped, dropped_by_reason: stats.droppedByReason, produce_failures: stats.failures, emit_errors: stats.emitErrors },
    load_errors: ROUTES.reduce((n, route) => n + rounds[route].reduce((m, r) => m + VARIANTS.reduce((k, v) => k + r[v].errors + r[v].non2xx, 0), 0), 0),
  };
  say(`hello world: emitter ratio ${result.throughput_ratio} (target >= 0.95), pino-http ${result.peers.pino_http?.hello_ratio ?? '-'}, morgan ${result.peers.morgan?.hello_ratio ?? '-'}; realistic: emitter ${result.realistic_ratio}; emitter adds ${hello?.cpu_us_added ?? '-'} us CPU per request; events produced ${stats.sent}, dropped ${stats.dropped}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`emitter bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
