/** The scorer as a process of its own (`ipwatch run scorer`), or as part of the embedded `ipwatch dev`. */
import { startConsumerService, type ConsumerService, type ServiceContext } from '@ipwatch/core/service';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createScorer, SCORER_GROUP, type Scorer, type ScorerOptions } from './scorer.ts';

export interface ScorerService extends ConsumerService {
  readonly scorer: Scorer;
}

export async function startScorerService(
  ctx: ServiceContext,
  metrics: IpwatchMetrics = ctx.metrics('scorer'),
  overrides: Partial<Pick<ScorerOptions, 'crawlerVerifier' | 'groupId' | 'now'>> = {},
): Promise<ScorerService> {
  const scorer = createScorer({
    log: ctx.log,
    metrics,
    warn: ctx.warn,
    warmupMs: ctx.config.scorer.warmupMs,
    v6Prefix: ctx.config.scorer.v6Prefix,
    maxClients: ctx.config.scorer.maxClients,
    ...overrides,
  });
  const unregister = ctx.health.register('scorer-state', () => scorer.health());
  try {
    const service = await startConsumerService(ctx, { name: 'scorer', group: overrides.groupId ?? SCORER_GROUP, metrics, loop: scorer });
    const stopService = service.stop.bind(service);
    return Object.assign(service, {
      scorer,
      async stop() {
        unregister();
        await stopService();
      },
    });
  } catch (err) {
    unregister();
    await scorer.stop();
    throw err;
  }
}
