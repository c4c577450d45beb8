import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@ipwatch/core/config';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { startObservabilityServer } from '@ipwatch/core/observability/server';
import { ipwatch, createBlockMirror, createRateLimiter, registerEnforcementMetrics } from '@ipwatch/emitter';
import { startApiService } from '@ipwatch/api';
import { startBlocksyncService } from '@ipwatch/blocksync';
import { createContext, createSharedListsFor, describeMode } from '../context.ts';
import { startLocalPipeline } from '../pipeline.ts';
import { createDemoApp } from '../demo/demoApp.ts';
import { startSimulator } from '../demo/simulator.ts';
import { out, info, UsageError } from '../output.ts';
import { untilSignal } from '../signals.ts';

export const help = `ipwatch dev [--simulate] [--duration SECONDS] [--rate N] [--port PORT]
  Runs ipwatch in one process: a demo Express app with the emitter (blocks, allowlist and
  rate limits enforced), the enricher, the sink, blocksync and the api, over whatever the
  environment configures (by default the in-process event log and chDB under ./.ipwatch:
  nothing to install). Blocks and the allowlist persist in ./.ipwatch across restarts;
  change them from another terminal with \`npx ipwatch block|unblock|blocks|allow\`.
  --simulate        send simulated visitors' traffic to the demo app
  --rate N          simulated requests per second (default 40)
  --duration S      stop after S seconds, wait until every event is stored, print a summary
                    whose last line is JSON ({"emitted":N,"stored":M,...}) and exit
  --port PORT       the demo app's port (default 3000; 0 = any free port)`;

function positiveInt(flag: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} ${JSON.stringify(raw)} must be a whole number of at least ${min}`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { simulate: { type: 'boolean' }, duration: { type: 'string' }, rate: { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  const durationS = values.duration === undefined ? null : positiveInt('--duration', values.duration, 0);
  const rate = positiveInt('--rate', values.rate, 40);
  const port = positiveInt('--port', values.port, 3000, 0);

  const started = Date.now();
  const config = loadConfig();
  const metrics = createMetrics('ipwatch');
  const ctx = createContext(config, { sharedMetrics: metrics });
  info(`ipwatch dev: ${describeMode(config)}`);
  const pipeline = await startLocalPipeline(ctx);
  const lists = createSharedListsFor(config);
  const blocksync = await startBlocksyncService(ctx, lists);
  const api = await startApiService(ctx, pipeline.analytics);
  const observability = await startObservabilityServer({ port: config.metricsPort, host: '127.0.0.1', metrics, health: ctx.health }).catch(() =>
    // In dev the metrics port is a convenience: take any free one rather than refuse to start.
    startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, health: ctx.health }),
  );

  const instance = `${hostname()}:${process.pid}:${started}`;
  const blockMirror = createBlockMirror({ lists, onWarn: ctx.warn });
  await blockMirror.ready;
  const unregisterMirror = ctx.health.register('block-mirror', () => blockMirror.health());
  // The demo's limits: generous for browsing, so that the noisy client and the password guesser stand out.
  const rateLimiter = createRateLimiter({
    store: config.redis?.url,
    rules: {
      anonymous: '120/m',
      authenticated: '600/m',
      login: { rate: '3/5m', paths: ['/login'], username: (req) => (req as { body?: { username?: unknown } }).body?.username as string | undefined },
    },
  });
  const unregisterLimiter = ctx.health.register('rate-limiter', () => rateLimiter.health());
  const emitter = ipwatch({ log: ctx.log, app: 'demo', instance, trustedProxies: ['127.0.0.1', '::1'], blockMirror, rateLimiter, rateLimitAt: 'mounted' });
  registerEnforcementMetrics(metrics, { tracker: emitter, blockMirror, rateLimiter });
  const server = createDemoApp(emitter, emitter.limit()).listen(port, '127.0.0.1');
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw new UsageError(`the demo app cannot listen on port ${port} (${(err as Error).message}): pass --port with a free port`);
    }),
  ]);
  const appPort = (server.address() as AddressInfo).port;
  const simulator = values.simulate ? startSimulator({ port: appPort, rate }) : null;

  info(`  demo app      http://127.0.0.1:${appPort}/`);
  info(`  api           ${api.url}/api/requests?limit=20`);
  info(`  metrics       http://127.0.0.1:${observability.port}/metrics  (health: /healthz)`);
  info(`  request log   npx ipwatch logs --since 15m`);
  if (simulator) info(`  simulating about ${rate} requests/s from ${durationS ? `${durationS} s` : 'now until Ctrl-C'}`);

  if (durationS === null) {
    await untilSignal();
    info('stopping');
  } else {
    await new Promise((r) => setTimeout(r, durationS * 1000));
  }
  await simulator?.stop();
  server.close();
  server.closeAllConnections();
  await emitter.close();
  unregisterLimiter();
  unregisterMirror();
  await rateLimiter.close();
  await blockMirror.close();
  const emitted = emitter.stats().sent;

  // Wait until the store holds every event this run emitted (the pipeline is asynchronous).
  const stored = await pipeline.waitStored(instance, emitted, 60_000);
  const health = await ctx.health.report();
  await api.stop();
  await blocksync.stop();
  await lists.close();
  await pipeline.stop();
  await observability.close();
  await ctx.log.close();

  const summary = {
    emitted,
    stored,
    dropped: emitter.stats().dropped,
    blocked: emitter.stats().blocked,
    rateLimited: emitter.stats().rateLimited,
    simulated: simulator?.sent() ?? 0,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    health: health.state,
    mode: { eventLog: ctx.log.kind, analytics: pipeline.analytics.engine },
  };
  if (durationS !== null) {
    out(`emitted ${summary.emitted} events, stored ${summary.stored} in ClickHouse (${summary.dropped} dropped) in ${summary.seconds} s`);
    out(JSON.stringify(summary));
  }
  return stored >= emitted ? 0 : 1;
}
