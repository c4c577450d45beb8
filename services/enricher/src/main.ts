/** The enricher as a process of its own, or as part of the embedded `ipwatch dev`. */
import { startConsumerService, type ServiceContext, type ConsumerService } from '@ipwatch/core/service';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createGeoLookup } from './geo/index.ts';
import { createEnricher, ENRICHER_GROUP } from './enricher.ts';

export async function startEnricherService(ctx: ServiceContext, metrics: IpwatchMetrics = ctx.metrics('enricher')): Promise<ConsumerService> {
  const { geo: geoConfig } = ctx.config;
  const geo = await createGeoLookup({
    cacheSize: geoConfig.cacheSize,
    cacheTtlMs: geoConfig.cacheTtlMs,
    onlineProviders: geoConfig.onlineProviders,
    onlineTimeoutMs: geoConfig.onlineTimeoutMs,
  });
  const enricher = createEnricher({
    log: ctx.log,
    geo,
    metrics,
    online: geoConfig.onlineProviders.length > 0,
    optOutRegions: ctx.config.privacy.optOutRegions,
    // The scorer's prefix: the enriched topic is keyed by the client the scorer counts.
    v6Prefix: ctx.config.scorer.v6Prefix,
    onError: (err) => ctx.warn('enricher: batch failed, retrying', err),
  });
  return startConsumerService(ctx, { name: 'enricher', group: ENRICHER_GROUP, metrics, loop: enricher, release: () => geo.close() });
}
