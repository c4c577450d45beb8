import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { loadConfig, type IpwatchConfig } from '@ipwatch/core/config';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { startObservabilityServer } from '@ipwatch/core/observability/server';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { ServiceContext } from '@ipwatch/core/service';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import { createStops, startOrUnwind, type Stops } from '@ipwatch/core/serviceProcess';
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

/** The demo app with the emitter enforcing blocks and limits, and its simulated visitors; each part registers its stop. */
async function startDemo(ctx: ServiceContext, metrics: IpwatchMetrics, lists: SharedLists, instance: string, port: number, simulateRate: number | null, demo: Stops) {
  const blockMirror = createBlockMirror({ lists, onWarn: ctx.warn });
  demo.add('the block mirror', () => blockMirror.close());
  await blockMirror.ready;
  demo.add('the block mirror health check', ctx.health.register('block-mirror', () => blockMirror.health()));
  // The demo's limits: generous for browsing, so that the noisy client and the password guesser stand out.
  const rateLimiter = createRateLimiter({
    store: ctx.config.redis?.url,
    rules: {
      anonymous: '120/m',
      authenticated: '600/m',
      login: { rate: '3/5m', paths: ['/login'], username: (req) => (req as { body?: { username?: unknown } }).body?.username as string | undefined },
    },
  });
  demo.add('the rate limiter', () => rateLimiter.close());
  demo.add('the rate limiter health check', ctx.health.register('rate-limiter', () => rateLimiter.health()));
  const emitter = ipwatch({ log: ctx.log, app: 'demo', instance, trustedProxies: ['127.0.0.1', '::1'], blockMirror, rateLimiter, rateLimitAt: 'mounted', login: {} });
  demo.add('the emitter', () => emitter.close());
  registerEnforcementMetrics(metrics, { tracker: emitter, blockMirror, rateLimiter });
  const server = createDemoApp(emitter, emitter.limit()).listen(port, '127.0.0.1');
  demo.add('the demo app', () => {
    server.close();
    server.closeAllConnections();
  });
  // Not events.once(server, 'listening'): that rejects with the bare error first.
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err: Error) => reject(new UsageError(`the demo app cannot listen on port ${port} (${err.message}): pass --port with a free port`)));
  });
  const appPort = (server.address() as AddressInfo).port;
  const simulator = simulateRate === null ? null : startSimulator({ port: appPort, rate: simulateRate });
  if (simulator) demo.add('the simulator', () => simulator.stop());
  return { emitter, appPort, simulator };
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
  // Two stacks: the demo app's side stops first, then the services once they have stored
  // what it emitted. A failure half-way through start stops whatever had started.
  const services = createStops(ctx.warn);
  const demo = createStops(ctx.warn);
  services.add('the event log', () => ctx.log.close());
  const instance = `${hostname()}:${process.pid}:${started}`;
  const running = await startOrUnwind(services, async () => {
    // /healthz from the start, as `ipwatch run` serves it. In dev the metrics port is a
    // convenience: take any free one rather than refuse to start.
    const observability = await startObservabilityServer({ port: config.metricsPort, host: '127.0.0.1', access: config.metricsAccess, metrics, health: ctx.health }).catch(() =>
      startObservabilityServer({ port: 0, host: '127.0.0.1', access: config.metricsAccess, metrics, health: ctx.health }),
    );
    services.add('/metrics and /healthz', () => observability.close());
    const pipeline = await startLocalPipeline(ctx);
    services.add('the pipeline', () => pipeline.stop());
    const lists = createSharedListsFor(config);
    services.add('the shared lists', () => lists.close());
    const blocksync = await startBlocksyncService(ctx, lists);
    services.add('blocksync', () => blocksync.stop());
    const api = await startApiService(ctx, pipeline.analytics);
    services.add('the api', () => api.stop());
    const app = await startOrUnwind(demo, (stops) => startDemo(ctx, metrics, lists, instance, port, values.simulate ? rate : null, stops));
    return { pipeline, api, observability, ...app };
  }).catch(async (err: unknown) => {
    await demo.stopAll();
    throw err;
  });
  const { pipeline, api, observability, emitter, appPort, simulator } = running;

  info(`  dashboard     ${api.url}/  (${config.api.token ? 'sign in with IPWATCH_API_TOKEN' : 'no sign-in: answers on this machine only'})`);
  info(`  demo app      http://127.0.0.1:${appPort}/`);
  info(`  api           ${api.url}/api/v1/requests?limit=20  (described by ${api.url}/api/v1/openapi.json)`);
  info(`  metrics       http://127.0.0.1:${observability.port}/metrics  (health: /healthz)`);
  info(`  request log   npx ipwatch logs --since 15m`);
  info(`  detections    npx ipwatch rules list; npx ipwatch analyze <ip>`);
  info(`  alerts        ${describeAlerts(config.alerts)}`);
  info(`  daily report  npx ipwatch report --daily --date ${new Date().toISOString().slice(0, 10)}`);
  info(`  sql           npx ipwatch sql "SELECT country, count() FROM requests GROUP BY country"  (${api.url}/sql; tables: docs/TABLES.md)`);
  info(`  privacy       npx ipwatch privacy export <ip>; npx ipwatch privacy erase <ip>  (${api.url}/privacy)`);
  if (simulator) info(`  simulating about ${rate} requests/s from ${durationS ? `${durationS} s` : 'now until Ctrl-C'}`);

  if (durationS === null) {
    await untilSignal();
    info('stopping');
  } else {
    await new Promise((r) => setTimeout(r, durationS * 1000));
  }
  await demo.stopAll();
  const emitted = emitter.stats().sent;

  // Wait until the store holds every event this run emitted (the pipeline is asynchronous).
  const stored = await pipeline.waitStored(instance, emitted, 60_000);
  const health = await ctx.health.report();
  await services.stopAll();

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

/** Where alerts go, from the configuration (no secret, no password). */
function describeAlerts(alerts: IpwatchConfig['alerts']): string {
  const to: string[] = [];
  if (alerts.email) to.push(`email to ${alerts.email.to.join(', ')} (${alerts.email.minSeverity}+)`);
  if (alerts.webhook) to.push(`webhook (${alerts.webhook.minSeverity}+)`);
  if (alerts.slack) to.push(`Slack (${alerts.slack.minSeverity}+)`);
  return to.length ? `${to.join(', ')}; check with npx ipwatch alerts test` : 'none sent: no channel set (IPWATCH_SMTP_HOST, IPWATCH_ALERT_WEBHOOK_URL; README, "Alerts")';
}
