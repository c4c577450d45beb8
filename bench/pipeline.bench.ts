/**
 * bench:pipeline — events per second end to end on the real components: RequestEvents
 * produced to a real Kafka broker, consumed by the enricher (geolocation) and re-produced,
 * consumed by the sink and inserted into ClickHouse (chDB), timed from the first produce
 * until ClickHouse counts every event. The traffic is the real access log in
 * ../shared/data (its IPs, paths and user agents), cycled to N events.
 *
 *   npm run bench:pipeline -- [N=200000] [partitions=4]
 *
 * The enricher runs in a child process (as in the distributed mode, one process per
 * service), so the two stages use the machine's two cores; the sink and chDB run here.
 * Prints a JSON object as its last line.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { codecs, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { canonicalIp } from '@ipwatch/core/ip';
import { openAnalytics, migrate, countRequests } from '@ipwatch/store';
import { createClickhouseSink } from '@ipwatch/sink';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOG_FILE = join(ROOT, '..', 'shared', 'data', 'apache-combined-2015.log');
const COMBINED = /^(\S+) \S+ \S+ \[[^\]]+\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"/;

function sampleEvents(): RequestEvent[] {
  if (!existsSync(LOG_FILE)) throw new Error(`${LOG_FILE} is missing: the benchmark replays that access log`);
  const events: RequestEvent[] = [];
  for (const line of readFileSync(LOG_FILE, 'utf8').split('\n')) {
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

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200_000);
  const partitions = Number(process.argv[3] ?? 4);
  const config = loadConfig();
  if (!config.kafka) throw new Error('IPWATCH_KAFKA_BROKERS is not set: run this through `npm run bench:pipeline`, which starts a broker');
  const log = createKafkaEventLog({ brokers: config.kafka.brokers, clientId: 'bench-pipeline', logLevel: 'error' });
  await log.ensureTopics(topicSpecs(partitions));

  const sample = sampleEvents();
  const now = Date.now();
  const encoded = Array.from({ length: n }, (_, i) => {
    const e = { ...sample[i % sample.length]!, id: randomUUID(), ts: now - (n - i) };
    return { key: e.ip, value: codecs.RequestEvent.encode(e) };
  });

  const analytics = await openAnalytics({ clickhouse: null, dataDir: mkdtempSync(join(tmpdir(), 'ipwatch-bench-')) });
  await migrate(analytics);
  const sink = createClickhouseSink({ log, analytics, metrics: createMetrics('sink'), batchSize: 20_000, flushMs: 200 });
  await sink.start();

  const enricher = fork(join(ROOT, 'bench', 'support', 'enricherProcess.ts'), [], {
    execArgv: ['--import', 'tsx', ...(process.env.IPWATCH_BENCH_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.IPWATCH_BENCH_PROF_DIR] : [])],
    env: { ...process.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    enricher.once('message', () => resolve());
    enricher.once('exit', (code) => reject(new Error(`the enricher process exited with ${code}`)));
  });

  // Phase 1, end to end: produce while the services consume; time until ClickHouse has all.
  const runOnce = async (app: string, backlog: boolean) => {
    const batch = encoded.map((m) => ({ key: m.key, value: m.value }));
    const target = (await countRequests(analytics)) + n;
    const produceAll = async () => {
      const t = performance.now();
      const inFlight: Promise<void>[] = [];
      for (let i = 0; i < n; i += 5000) {
        inFlight.push(log.produce(TOPICS.requests, batch.slice(i, i + 5000)));
        if (inFlight.length >= 4) await inFlight.shift();
      }
      await Promise.all(inFlight);
      return performance.now() - t;
    };
    let produceMs = 0;
    if (backlog) {
      enricher.send('pause');
      await new Promise((r) => enricher.once('message', r));
      produceMs = await produceAll();
      enricher.send('resume');
    }
    const t0 = performance.now();
    if (!backlog) produceMs = await produceAll();
    let stored = 0;
    while (stored < target && performance.now() - t0 < 600_000) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await countRequests(analytics);
    }
    return { app, produceMs, totalMs: performance.now() - t0, stored: stored - (target - n) };
  };
  const live = await runOnce('live', false);
  const drained = await runOnce('backlog', true);
  const total = live.totalMs;
  const stored = live.stored;
  const produced = live.produceMs;
  enricher.kill('SIGTERM');
  await sink.stop();
  await log.close();
  await analytics.close();

  const result = {
    bench: 'pipeline',
    events: n,
    stored,
    partitions,
    produce_ms: Math.round(produced),
    total_ms: Math.round(total),
    produce_events_per_s: Math.round(n / (produced / 1000)),
    events_per_s: Math.round(stored / (total / 1000)),
    drain_events_per_s: Math.round(drained.stored / (drained.totalMs / 1000)),
    backlog_produce_events_per_s: Math.round(n / (drained.produceMs / 1000)),
    target_events_per_s: 50_000,
  };
  console.log(`pipeline: ${n} events through Kafka -> enricher -> Kafka -> sink -> chDB in ${(total / 1000).toFixed(1)} s`);
  console.log(JSON.stringify(result));
  process.exit(stored === n && drained.stored === n ? 0 : 1);
}

await main();
