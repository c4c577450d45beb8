import { parseArgs } from 'node:util';
import { loadConfig } from '@ipwatch/core/config';
import { startObservabilityServer } from '@ipwatch/core/observability/server';
import type { RunningService } from '@ipwatch/core/service';
import { openAnalytics, type Analytics } from '@ipwatch/store';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startApiService } from '@ipwatch/api';
import { startBlocksyncService } from '@ipwatch/blocksync';
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
  let analytics: Analytics | undefined;
  let service: RunningService;
  // Serve /healthz from the start: blocksync reports "reading to the end" until it is ready.
  const observability = await startObservabilityServer({ port: config.metricsPort, metrics, health: ctx.health });
  try {
    if (name === 'enricher') {
      service = await startEnricherService(ctx, metrics);
    } else if (name === 'blocksync') {
      const lists = createSharedListsFor(config);
      const started = await startBlocksyncService(ctx, lists, metrics);
      service = { name, stop: async () => { await started.stop(); await lists.close(); } };
    } else {
      analytics = await openAnalytics(config);
      service = name === 'sink' ? await startSinkService(ctx, analytics, metrics) : await startApiService(ctx, analytics);
    }
  } catch (err) {
    // A service that cannot start must not leave the process held open by /healthz.
    await observability.close();
    await analytics?.close();
    await ctx.log.close();
    throw err;
  }
  info(`ipwatch ${name} running (${describeMode(config)}); metrics and health on :${observability.port}`);
  await untilSignal();
  info(`ipwatch ${name} stopping`);
  await service.stop();
  await observability.close();
  await analytics?.close();
  await ctx.log.close();
  return 0;
}
