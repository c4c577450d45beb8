/**
 * bench:propagation: how long a block takes to reach every app instance, distributed mode
 * on the real broker and Redis. Per trial: POST /api/v1/blocks for a fresh address, then both
 * app processes (child processes with the emitter, as in production) are polled until each
 * answers 403. Reported from the moment the block was sent to the api (conservative: it
 * includes the api's own write to Kafka), and from the api's answer.
 *
 * Baseline in the same run: a block written straight into Redis (the shared lists, bypassing
 * the api, Kafka and blocksync) to the first 403, so the cost of the Kafka hop shows.
 * Reference: CrowdSec bouncers poll every 10,000 ms.
 *
 *   npm run bench:propagation [-- --trials 200]
 */
import { parseArgs } from 'node:util';
import { Agent, request } from 'node:http';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { topicSpecs } from '@ipwatch/core/topics';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { createHealth } from '@ipwatch/core/observability/health';
import type { ServiceContext } from '@ipwatch/core/service';
import { createBlocksync } from '@ipwatch/blocksync';
import { startApiService } from '@ipwatch/api';
import { openAnalytics, migrate } from '@ipwatch/store';
import { startRedisServer } from '../test/support/redisServer.ts';
import { startAppProcess, type AppProcess } from '../test/support/appProcess.ts';
import { tempDir } from '../test/support/cli.ts';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '100' } } });
const trials = Number(values.trials);

const env = loadConfig();
if (!env.kafka) throw new Error('run through `npm run bench:propagation`, which starts a Kafka broker');
const brokers = env.kafka.brokers;

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
function status(port: number, ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/hello', agent, headers: { 'x-forwarded-for': ip } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls one app until it answers 403 for ip; returns when (performance.now()). */
async function first403(app: AppProcess, ip: string, deadline: number): Promise<number> {
  for (;;) {
    if ((await status(app.port, ip)) === 403) return performance.now();
    if (performance.now() > deadline) throw new Error(`no 403 for ${ip} on :${app.port} within the deadline`);
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number) => Math.round(x * 10) / 10;

const redis = await startRedisServer();
const log = createKafkaEventLog({ brokers, clientId: 'bench-propagation', logLevel: 'nothing' });
await log.ensureTopics(topicSpecs(2));
const dataDir = tempDir('ipwatch-bench-prop');
const config = loadConfig({ IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_REDIS_URL: redis.url, IPWATCH_API_PORT: '0' }, dataDir);
const ctx: ServiceContext = { config, log, health: createHealth(), metrics: (s) => createMetrics(s), warn: (m) => process.stderr.write(`warn: ${m}\n`) };
const lists = createRedisSharedLists(redis.url, { name: 'bench-blocksync' });
const sync = createBlocksync({ log, lists, metrics: createMetrics('blocksync'), warn: ctx.warn });
await sync.ready;
const analytics = await openAnalytics(config);
await migrate(analytics);
const api = await startApiService(ctx, analytics);
const appEnv = { IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_REDIS_URL: redis.url };
const apps = await Promise.all([startAppProcess(appEnv), startAppProcess(appEnv)]);
process.stderr.write(`two app processes on :${apps.map((a) => a.port).join(', :')}; api on :${api.port}; ${trials} trials\n`);

const fromSend: number[] = [];
const fromAnswer: number[] = [];
const direct: number[] = [];
try {
  // warm-up: connections, JIT, the broker's first produce
  for (let i = 0; i < 3; i++) {
    const ip = `10.99.0.${i + 1}`;
    await fetch(`${api.url}/api/v1/blocks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: ip }) });
    await Promise.all(apps.map((a) => first403(a, ip, performance.now() + 10_000)));
  }
  for (let i = 0; i < trials; i++) {
    // through the api, Kafka and blocksync
    const ip = `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const t0 = performance.now();
    const answered = fetch(`${api.url}/api/v1/blocks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: ip, reason: 'bench' }) }).then((r) => {
      if (r.status !== 201) throw new Error(`api answered ${r.status}`);
      return performance.now();
    });
    const seen = await Promise.all(apps.map((a) => first403(a, ip, t0 + 10_000)));
    const tAnswer = await answered;
    for (const t of seen) {
      fromSend.push(t - t0);
      // The api answers after it has read the block back from Kafka, often after the apps already enforce it.
      fromAnswer.push(Math.max(0, t - tAnswer));
    }
    // baseline: straight into Redis
    const ip2 = `10.78.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const d0 = performance.now();
    await lists.put('blocks', { target: ip2, expiresAt: null, record: JSON.stringify({ target: ip2 }) });
    const seen2 = await Promise.all(apps.map((a) => first403(a, ip2, d0 + 10_000)));
    for (const t of seen2) direct.push(t - d0);
  }
} finally {
  await Promise.all(apps.map((a) => a.stop()));
  await api.stop();
  await sync.stop();
  await lists.close();
  await analytics.close();
  await log.close();
  await redis.close();
  agent.destroy();
}

const result = {
  bench: 'propagation',
  trials,
  apps: apps.length,
  samples: fromSend.length,
  p50_ms: round(pct(fromSend, 50)),
  p99_ms: round(pct(fromSend, 99)),
  max_ms: round(Math.max(...fromSend)),
  from_api_answer_p50_ms: round(pct(fromAnswer, 50)),
  from_api_answer_p99_ms: round(pct(fromAnswer, 99)),
  baseline_redis_direct_p50_ms: round(pct(direct, 50)),
  baseline_redis_direct_p99_ms: round(pct(direct, 99)),
  target_p99_ms: 1000,
  crowdsec_poll_ms: 10_000,
  pass: pct(fromSend, 99) < 1000,
};
process.stdout.write(
  `block -> first 403 at each of ${apps.length} app processes, ${trials} trials (${fromSend.length} samples):\n` +
    `  from sending it to the api: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms (target p99 < 1000 ms; CrowdSec polls every 10000 ms)\n` +
    `  from the api's answer:      p50 ${result.from_api_answer_p50_ms} ms, p99 ${result.from_api_answer_p99_ms} ms\n` +
    `  baseline, straight into Redis: p50 ${result.baseline_redis_direct_p50_ms} ms, p99 ${result.baseline_redis_direct_p99_ms} ms\n`,
);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
