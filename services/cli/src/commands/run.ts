import { parseArgs } from 'node:util';
import { loadConfig, type IpwatchConfig } from '@ipwatch/core/config';
import { startServiceProcess, type Stops } from '@ipwatch/core/serviceProcess';
import type { ServiceContext } from '@ipwatch/core/service';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { openAnalytics } from '@ipwatch/store';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startApiService } from '@ipwatch/api';
import { startBlocksyncService } from '@ipwatch/blocksync';
import { startScorerService } from '@ipwatch/scorer';
import { startAlerterService } from '@ipwatch/alerter';
import { RUNNABLE_SERVICES, type RunnableService } from '../runnable.ts';
import { createContext, createSharedListsFor, describeMode } from '../context.ts';
import { info, UsageError } from '../output.ts';
import { untilSignal } from '../signals.ts';

export const help = `ipwatch run <${RUNNABLE_SERVICES.join('|')}>
  Runs one service as a process of its own (the distributed mode), configured by the
  IPWATCH_* environment (see README). Serves /metrics and /healthz on IPWATCH_METRICS_PORT.`;

export async function run(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, options: {}, allowPositionals: true, strict: true });
  const name = positionals[0] as RunnableService | undefined;
  if (!name || !RUNNABLE_SERVICES.includes(name) || positionals.length > 1) {
    throw new UsageError(`say which service to run: ipwatch run <${RUNNABLE_SERVICES.join('|')}>`);
  }
  const config = loadConfig();
  if (name === 'blocksync' && !config.redis) {
    throw new UsageError('blocksync mirrors the blocks into Redis for the app instances: set IPWATCH_REDIS_URL (in embedded mode `ipwatch dev` runs it in-process)');
  }
  const ctx = createContext(config);
  const metrics = ctx.metrics(name);
  // Serve /healthz from the start: blocksync reports "reading to the end" until it is ready.
  // A failure half-way (a busy port, an unreachable store) stops what had started.
  const proc = await startServiceProcess({ ctx, metrics, metricsPort: config.metricsPort, start: (stops) => startService(name, ctx, config, metrics, stops) });
  info(`ipwatch ${name} running (${describeMode(config)}); metrics and health on :${proc.observability.port}`);
  await untilSignal();
  info(`ipwatch ${name} stopping`);
  await proc.stop();
  return 0;
}

/** Starts one service, registering the stop of each part as soon as it has started. */
async function startService(name: RunnableService, ctx: ServiceContext, config: Readonly<IpwatchConfig>, metrics: IpwatchMetrics, stops: Stops): Promise<void> {
  if (name === 'enricher') {
    const service = await startEnricherService(ctx, metrics);
    stops.add(name, () => service.stop());
    return;
  }
  if (name === 'scorer') {
    const service = await startScorerService(ctx, metrics);
    stops.add(name, () => service.stop());
    return;
  }
  if (name === 'blocksync') {
    const lists = createSharedListsFor(config);
    stops.add('the shared lists', () => lists.close());
    const service = await startBlocksyncService(ctx, lists, metrics);
    stops.add(name, () => service.stop());
    return;
  }
  const analytics = await openAnalytics(config);
  stops.add('the store', () => analytics.close());
  if (name === 'alerter') {
    // The store is for the daily report.
    const service = await startAlerterService(ctx, metrics, { analytics });
    stops.add(name, () => service.stop());
    return;
  }
  const service = name === 'sink' ? await startSinkService(ctx, analytics, metrics) : await startApiService(ctx, analytics, { metrics });
  stops.add(name, () => service.stop());
}
