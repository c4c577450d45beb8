/**
 * bench:pipeline — events per second end to end on the real components: RequestEvents
 * produced to a real Kafka broker, consumed by the enricher (geolocation) and re-produced,
 * consumed by the sink and inserted into ClickHouse (chDB), timed from the first produce
 * until ClickHouse counts every event. The traffic is the real access log in
 * ../shared/data (its IPs, paths and user agents), cycled to N events.
 *
 *   npm run bench:pipeline -- [N=200000] [partitions=4]
 *
 * Three processes, as deployed: the producer (standing in for the apps), the enricher, and
 * this one running the sink with chDB. Two runs: `live` produces while the services consume
 * (the end-to-end figure); `backlog` produces with the enricher stopped, then times how fast
 * the services drain it. Prints a JSON object as its last line.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { topicSpecs } from '@ipwatch/core/topics';
import { openAnalytics, migrate, countRequests } from '@ipwatch/store';
import { createClickhouseSink } from '@ipwatch/sink';

const SUPPORT = fileURLToPath(new URL('./support/', import.meta.url));

function child(file: string, args: string[]): Promise<ChildProcess> {
  const proc = fork(join(SUPPORT, file), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', () => resolve(proc));
    proc.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

const cpuUs = (u: NodeJS.CpuUsage): number => u.user + u.system;

/** The machine's busy CPU time so far, in µs (all processes: the broker's JVM too; /proc/stat, Linux). */
function machineBusyUs(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1_000_000) / 100; // USER_HZ = 100
}

function ask<T>(proc: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    proc.once('message', (m) => resolve(m as T));
    proc.send(msg);
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200_000);
  const partitions = Number(process.argv[3] ?? 4);
  const config = loadConfig();
  if (!config.kafka) throw new Error('IPWATCH_KAFKA_BROKERS is not set: run this through `npm run bench:pipeline`, which starts a broker');
  const log = createKafkaEventLog({ brokers: config.kafka.brokers, clientId: 'bench-sink', logLevel: 'error' });
  await log.ensureTopics(topicSpecs(partitions));

  const analytics = await openAnalytics({ clickhouse: null, dataDir: mkdtempSync(join(tmpdir(), 'ipwatch-bench-')) });
  await migrate(analytics);
  const sink = createClickhouseSink({ log, analytics, metrics: createMetrics('sink'), batchSize: config.sink.batchSize, flushMs: 200 });
  await sink.start();
  const enricher = await child('enricherProcess.ts', []);
  const producer = await child('producerProcess.ts', [String(n)]);

  const run = async (backlog: boolean) => {
    const target = (await countRequests(analytics)) + n;
    let produceMs = 0;
    if (backlog) {
      await ask(enricher, 'pause');
      produceMs = (await ask<{ ms: number }>(producer, 'go')).ms;
    }
    const cpu = async () => ({ enricher: cpuUs(await ask<NodeJS.CpuUsage>(enricher, 'cpu')), sink: cpuUs(process.cpuUsage()) });
    const cpuBefore = await cpu();
    const eluBefore = performance.eventLoopUtilization();
    const machineBefore = machineBusyUs();
    if (backlog) enricher.send('resume');
    const t0 = performance.now();
    const produced = backlog ? Promise.resolve() : ask<{ ms: number }>(producer, 'go').then((r) => void (produceMs = r.ms));
    let stored = 0;
    while (stored < target && performance.now() - t0 < 600_000) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await countRequests(analytics);
    }
    await produced;
    const ms = performance.now() - t0;
    const cpuAfter = await cpu();
    const elu = performance.eventLoopUtilization(eluBefore);
    const machineUs = machineBusyUs() - machineBefore;
    // CPU per event of each stage (the sink's includes this loop's count queries, a few ms). The
    // sink's process is its JavaScript thread (Kafka fetch, decode, rows, serialise) and chDB's own
    // threads (parse, write parts, the rollup views, the projection, merges): the event loop's busy
    // time tells the first, the rest is the engine's.
    const sinkUs = cpuAfter.sink - cpuBefore.sink;
    const sinkJsUs = Math.min(sinkUs, elu.active * 1000);
    const cpuPerEventUs = {
      enricher: Math.round((cpuAfter.enricher - cpuBefore.enricher) / n),
      sink: Math.round(sinkUs / n),
      sink_js: Math.round(sinkJsUs / n),
      sink_engine: Math.round((sinkUs - sinkJsUs) / n),
      // Everything the machine did while the events went through: producer, broker, enricher, sink, and any neighbour.
      machine: Math.round(machineUs / n),
    };
    return { stored: stored - (target - n), ms, produceMs, cpuPerEventUs };
  };

  const live = await run(false);
  const drain = await run(true);
  // Let both children leave before the broker is stopped under them.
  await Promise.all([producer, enricher].map((p) => new Promise((r) => (p.kill('SIGTERM'), p.once('exit', r)))));
  await sink.stop();
  await log.close();
  await analytics.close();

  const result = {
    bench: 'pipeline',
    events: n,
    partitions,
    events_per_s: Math.round(live.stored / (live.ms / 1000)),
    live_total_ms: Math.round(live.ms),
    live_produce_events_per_s: Math.round(n / (live.produceMs / 1000)),
    drain_events_per_s: Math.round(drain.stored / (drain.ms / 1000)),
    backlog_produce_events_per_s: Math.round(n / (drain.produceMs / 1000)),
    live_cpu_us_per_event: live.cpuPerEventUs,
    drain_cpu_us_per_event: drain.cpuPerEventUs,
    // What two cores could carry at the machine's CPU per event while draining (2,000,000 µs of CPU a second).
    two_core_ceiling_events_per_s: Math.round(2_000_000 / Math.max(1, drain.cpuPerEventUs.machine)),
    stored_live: live.stored,
    stored_drain: drain.stored,
    target_events_per_s: 50_000,
  };
  console.log(`pipeline: ${n} events through Kafka -> enricher -> Kafka -> sink -> chDB: ${result.events_per_s} events/s end to end, ${result.drain_events_per_s} events/s draining a backlog`);
  console.log(JSON.stringify(result));
  process.exit(live.stored === n && drain.stored === n ? 0 : 1);
}

await main();
