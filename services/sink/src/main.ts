/** The sink as a process of its own, or as part of the embedded `ipwatch dev`. */
import type { ServiceContext, RunningService } from '@ipwatch/core/service';
import { consumerHealthCheck } from '@ipwatch/core/observability/health';
import { trackConsumerLag } from '@ipwatch/core/observability/consumerLag';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { loadMigrations, type Analytics } from '@ipwatch/store';
import { createClickhouseSink, SINK_GROUP, type ClickhouseSink } from './clickhouseSink.ts';

export interface SinkService extends RunningService {
  readonly sink: ClickhouseSink;
}

/** Refuses to start on a store whose migrations are behind: inserts would fail on every batch. */
async function assertMigrated(analytics: Analytics): Promise<void> {
  const wanted = loadMigrations().length;
  let applied = 0;
  try {
    const rs = await analytics.client.query({ query: 'SELECT count() AS n FROM schema_migrations', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    applied = Number((await rs.json<{ n: number }>())[0]?.n ?? 0);
  } catch {
    applied = 0;
  }
  if (applied < wanted) throw new Error(`the ClickHouse schema is behind (${applied} of ${wanted} migrations applied): run \`ipwatch migrate\` first`);
}

export async function startSinkService(ctx: ServiceContext, analytics: Analytics, metrics: IpwatchMetrics = ctx.metrics('sink')): Promise<SinkService> {
  await assertMigrated(analytics);
  const sink = createClickhouseSink({
    log: ctx.log,
    analytics,
    metrics,
    batchSize: ctx.config.sink.batchSize,
    flushMs: ctx.config.sink.flushMs,
    onError: (err) => ctx.warn('sink: insert failed, retrying', err),
  });
  const consumer = await sink.start();
  ctx.health.register('sink', consumerHealthCheck(consumer, { stallAfterMs: 30_000 }));
  const stopLag = trackConsumerLag(metrics, SINK_GROUP, consumer);
  return {
    name: 'sink',
    sink,
    async stop() {
      stopLag();
      await sink.stop();
    },
  };
}
