/** The sink as a process of its own, or as part of the embedded `ipwatch dev`. */
import { startConsumerService, type ServiceContext, type ConsumerService } from '@ipwatch/core/service';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { loadMigrations, type AnalyticsStore } from '@ipwatch/store';
import { IpwatchError } from '@ipwatch/core/errors';
import { createClickhouseSink, SINK_GROUP, type ClickhouseSink } from './clickhouseSink.ts';

export interface SinkService extends ConsumerService {
  readonly sink: ClickhouseSink;
}

/** Refuses to start on a store whose migrations are behind: inserts would fail on every batch. */
async function assertMigrated(analytics: AnalyticsStore): Promise<void> {
  const wanted = loadMigrations().length;
  const applied = await analytics.countAppliedMigrations();
  if (applied < wanted) throw new IpwatchError('IPWATCH_SCHEMA_BEHIND', `the ClickHouse schema is behind (${applied} of ${wanted} migrations applied): run \`ipwatch migrate\` first`);
}

export async function startSinkService(ctx: ServiceContext, analytics: AnalyticsStore, metrics: IpwatchMetrics = ctx.metrics('sink')): Promise<SinkService> {
  await assertMigrated(analytics);
  const sink = createClickhouseSink({
    log: ctx.log,
    analytics,
    metrics,
    batchSize: ctx.config.sink.batchSize,
    flushMs: ctx.config.sink.flushMs,
    onError: (err) => ctx.warn('sink: insert failed, retrying', err),
  });
  const service = await startConsumerService(ctx, { name: 'sink', group: SINK_GROUP, metrics, loop: sink });
  return Object.assign(service, { sink });
}
