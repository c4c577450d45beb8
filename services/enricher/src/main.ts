/** The enricher as a process of its own, or as part of the embedded `ipwatch dev`. */
import type { ServiceContext, RunningService } from '@ipwatch/core/service';
import { consumerHealthCheck } from '@ipwatch/core/observability/health';
import { trackConsumerLag } from '@ipwatch/core/observability/consumerLag';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createGeoLookup } from './geo/index.ts';
import { createEnricher, ENRICHER_GROUP } from './enricher.ts';

export async function startEnricherService(ctx: ServiceContext, metrics: IpwatchMetrics = ctx.metrics('enricher')): Promise<RunningService> {
  const { geo: geoConfig } = ctx.config;
  const geo = await createGeoLookup({
    cacheSize: geoConfig.cacheSize,
    onlineProviders: geoConfig.onlineProviders,
    onlineTimeoutMs: geoConfig.onlineTimeoutMs,
  });
  const enricher = createEnricher({
    log: ctx.log,
    geo,
    metrics,
    online: geoConfig.onlineProviders.length > 0,
    onError: (err) => ctx.warn('enricher: batch failed, retrying', err),
  });
  const consumer = await enricher.start();
  ctx.health.register('enricher', consumerHealthCheck(consumer, { stallAfterMs: 30_000 }));
  const stopLag = trackConsumerLag(metrics, ENRICHER_GROUP, consumer);
  return {
    name: 'enricher',
    async stop() {
      stopLag();
      await enricher.stop();
      geo.close();
    },
  };
}
