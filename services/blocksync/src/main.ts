/** blocksync as a process of its own, or as part of the embedded `ipwatch dev`. */
import type { ServiceContext, RunningService } from '@ipwatch/core/service';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createBlocksync, type Blocksync } from './blocksync.ts';

export interface BlocksyncService extends RunningService {
  readonly sync: Blocksync;
}

/** Starts blocksync and waits until it is ready: every list read to its end and in the store. */
export async function startBlocksyncService(ctx: ServiceContext, lists: SharedLists, metrics: IpwatchMetrics = ctx.metrics('blocksync')): Promise<BlocksyncService> {
  const sync = createBlocksync({ log: ctx.log, lists, metrics, warn: ctx.warn });
  const unregister = ctx.health.register('blocksync', () => sync.health());
  const stop = async () => {
    unregister();
    await sync.stop();
  };
  try {
    await sync.ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'blocksync', sync, stop };
}
