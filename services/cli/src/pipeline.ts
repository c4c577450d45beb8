/**
 * The pipeline in this process: the store (migrated), the sink, the enricher, the scorer and the alerter
 * over the context's event log. `ipwatch dev` and `ipwatch replay` both run it.
 */
import type { ServiceContext } from '@ipwatch/core/service';
import { createStops, startOrUnwind } from '@ipwatch/core/serviceProcess';
import { openAnalytics, migrate, type AnalyticsStore } from '@ipwatch/store';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startScorerService } from '@ipwatch/scorer';
import { startAlerterService } from '@ipwatch/alerter';

export interface LocalPipeline {
  readonly analytics: AnalyticsStore;
  /**
   * Polls the store until `expected` rows of `instance` (since `sinceMs`, if given) are there and
   * every stage has caught up (the scorer's detections of the last requests stored too), or
   * `timeoutMs` passes; returns the count of rows.
   */
  waitStored(instance: string, expected: number, timeoutMs: number, sinceMs?: number): Promise<number>;
  /** Stops the services and closes the store (not the event log, which the context owns). */
  stop(): Promise<void>;
}

export async function startLocalPipeline(ctx: ServiceContext): Promise<LocalPipeline> {
  const stops = createStops(ctx.warn);
  // A part that fails to start (a store behind its migrations, say) stops those before it.
  const consumers: Array<{ consumer: { status(): { lag: number | null } } }> = [];
  const analytics = await startOrUnwind(stops, async () => {
    const opened = await openAnalytics(ctx.config);
    stops.add('the store', () => opened.close());
    await migrate(opened, { retention: ctx.config.retention });
    const sink = await startSinkService(ctx, opened);
    stops.add('the sink', () => sink.stop());
    const enricher = await startEnricherService(ctx);
    stops.add('the enricher', () => enricher.stop());
    const scorer = await startScorerService(ctx);
    stops.add('the scorer', () => scorer.stop());
    consumers.push(sink, enricher, scorer);
    const alerter = await startAlerterService(ctx, ctx.metrics('alerter'), { analytics: opened });
    stops.add('the alerter', () => alerter.stop());
    return opened;
  });
  return {
    analytics,
    async waitStored(instance, expected, timeoutMs, sinceMs) {
      const deadline = Date.now() + timeoutMs;
      // Rows older than sinceMs are not counted: ClickHouse's TTL drops them whenever it merges.
      const filter = sinceMs === undefined ? { instance } : { instance, sinceMs };
      let stored = await analytics.countRequests(filter);
      while (stored < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        stored = await analytics.countRequests(filter);
      }
      // The requests are in; the scorer may still be behind them, and its detections on their way to
      // the sink. Caught up: every consumer at the end of its topics twice in a row.
      let idle = 0;
      while (idle < 2 && Date.now() < deadline) {
        idle = consumers.every((c) => c.consumer.status().lag === 0) ? idle + 1 : 0;
        if (idle < 2) await new Promise((r) => setTimeout(r, 250));
      }
      return stored;
    },
    stop: () => stops.stopAll(),
  };
}
