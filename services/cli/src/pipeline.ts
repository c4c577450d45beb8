/**
 * The storing half of ipwatch in this process: the store (migrated), the sink and the
 * enricher over the context's event log. `ipwatch dev` and `ipwatch replay` both run it.
 */
import type { ServiceContext } from '@ipwatch/core/service';
import { openAnalytics, migrate, countRequests, type Analytics } from '@ipwatch/store';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';

export interface LocalPipeline {
  readonly analytics: Analytics;
  /** Polls the store until `expected` rows of `instance` (since `sinceMs`, if given) are there or `timeoutMs` passes; returns the count. */
  waitStored(instance: string, expected: number, timeoutMs: number, sinceMs?: number): Promise<number>;
  /** Stops the services and closes the store (not the event log, which the context owns). */
  stop(): Promise<void>;
}

export async function startLocalPipeline(ctx: ServiceContext): Promise<LocalPipeline> {
  const analytics = await openAnalytics(ctx.config);
  await migrate(analytics, { retentionDays: ctx.config.retentionDays });
  const sink = await startSinkService(ctx, analytics);
  const enricher = await startEnricherService(ctx);
  return {
    analytics,
    async waitStored(instance, expected, timeoutMs, sinceMs) {
      const deadline = Date.now() + timeoutMs;
      // Rows older than sinceMs are not counted: ClickHouse's TTL drops them whenever it merges.
      const filter = sinceMs === undefined ? { instance } : { instance, sinceMs };
      let stored = await countRequests(analytics, filter);
      while (stored < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        stored = await countRequests(analytics, filter);
      }
      return stored;
    },
    async stop() {
      await enricher.stop();
      await sink.stop();
      await analytics.close();
    },
  };
}
