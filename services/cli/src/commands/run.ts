import { parseArgs } from 'node:util';
import { loadConfig } from '@ipwatch/core/config';
import { startObservabilityServer } from '@ipwatch/core/observability/server';
import type { RunningService } from '@ipwatch/core/service';
import { openAnalytics, type Analytics } from '@ipwatch/store';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startApiService } from '@ipwatch/api';
import { RUNNABLE_SERVICES, type RunnableService } from '../runnable.ts';
import { createContext, describeMode } from '../context.ts';
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
  const ctx = createContext(config);
  const metrics = ctx.metrics(name);
  let analytics: Analytics | undefined;
  let service: RunningService;
  if (name === 'enricher') {
    service = await startEnricherService(ctx, metrics);
  } else {
    analytics = await openAnalytics(config);
    service = name === 'sink' ? await startSinkService(ctx, analytics, metrics) : await startApiService(ctx, analytics);
  }
  const observability = await startObservabilityServer({ port: config.metricsPort, metrics, health: ctx.health });
  info(`ipwatch ${name} running (${describeMode(config)}); metrics and health on :${observability.port}`);
  await untilSignal();
  info(`ipwatch ${name} stopping`);
  await service.stop();
  await observability.close();
  await analytics?.close();
  await ctx.log.close();
  return 0;
}
