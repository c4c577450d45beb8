/** The alerter as a process of its own (`ipwatch run alerter`), or as part of the embedded `ipwatch dev`. */
import { startConsumerService, type ConsumerService, type ServiceContext } from '@ipwatch/core/service';
import type { LogConsumer } from '@ipwatch/core/eventLog';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createRedisClient } from '@ipwatch/core/redis';
import { TOPICS } from '@ipwatch/core/topics';
import type { AnalyticsStore } from '@ipwatch/store';
import type { Channel } from './alert.ts';
import { AlerterStopped, createAlerter, type Alerter } from './alerter.ts';
import { channelsFromConfig } from './channels/fromConfig.ts';
import { createMemoryLedger, createRedisLedger, type AlertLedger } from './ledger.ts';
import { startReportSchedule, type ReportSchedule } from './schedule.ts';

export const ALERTER_GROUP = 'ipwatch-alerter';

export interface AlerterService extends ConsumerService {
  readonly alerter: Alerter;
  readonly channels: readonly Channel[];
  /** The daily report's schedule; null when IPWATCH_REPORT_TIME is off or there is no store. */
  readonly reports: ReportSchedule | null;
}

export interface AlerterOverrides {
  /** The store the daily report is built from (the embedded pipeline shares its own). */
  analytics: AnalyticsStore | null;
  /** Channels other than the configured ones (tests). */
  channels: Channel[];
  ledger: AlertLedger;
  /** Prefix of the Redis ledger's keys (tests). */
  ledgerPrefix: string;
  groupId: string;
  /** Where a group with no committed offset starts (default true: the beginning, of which only the last MAX_AGE_MS alert). */
  fromBeginning: boolean;
  now: () => number;
  instanceId: string;
}

/**
 * Starts the alerter: consumes detections and block decisions (group ipwatch-alerter), sends
 * through the configured channels, and sends the daily report on schedule when given a store.
 *
 * @example
 * const alerter = await startAlerterService(ctx, ctx.metrics('alerter'), { analytics });
 */
export async function startAlerterService(ctx: ServiceContext, metrics: IpwatchMetrics = ctx.metrics('alerter'), overrides: Partial<AlerterOverrides> = {}): Promise<AlerterService> {
  const { config } = ctx;
  const channels = overrides.channels ?? channelsFromConfig(config.alerts);
  const redis = overrides.ledger || !config.redis ? null : createRedisClient(config.redis.url, { name: 'ipwatch-alerter', commandTimeoutMs: 2000 });
  const ledger = overrides.ledger ?? (redis ? createRedisLedger(redis, overrides.ledgerPrefix === undefined ? {} : { prefix: overrides.ledgerPrefix }) : createMemoryLedger(overrides.now));
  const alerter = createAlerter({
    channels,
    ledger,
    metrics,
    log: ctx.log,
    settings: config.alerts,
    warn: ctx.warn,
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.instanceId ? { instanceId: overrides.instanceId } : {}),
  });
  const group = overrides.groupId ?? ALERTER_GROUP;
  let consumer: LogConsumer | null = null;
  const loop = {
    async start() {
      consumer = await ctx.log.consume({
        groupId: group,
        topics: [TOPICS.detections, TOPICS.blocks],
        fromBeginning: overrides.fromBeginning ?? true,
        // Every partition's batch at once, so that the gathering window folds across partitions.
        concurrency: 16,
        maxBatchSize: 500,
        handle: (batch) => alerter.handle(batch),
        onError: (err) => {
          // A stop fails the batch in hand on purpose (it is read again): not a fault.
          if (err instanceof AlerterStopped) return;
          metrics.errors.inc({ kind: 'alert' });
          ctx.warn(`${group}: batch failed, retrying`, err);
        },
      });
      return consumer;
    },
    async stop() {
      // Cut waits and retries short first: the batch in hand then fails, and is read again.
      alerter.abort();
      await consumer?.stop();
    },
  };
  const release = async (): Promise<void> => {
    await Promise.allSettled(channels.map((c) => c.close()));
    if (!overrides.ledger) await ledger.close();
  };
  const unregister = ctx.health.register('alerter-channels', () => alerter.health());
  let service: ConsumerService;
  try {
    // A few seconds for Redis to answer; if it does not, the first batches fail and are retried.
    if (redis && redis.status !== 'ready') await Promise.race([new Promise((resolve) => redis.once('ready', resolve)), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    service = await startConsumerService(ctx, { name: 'alerter', group, metrics, loop, release, stallAfterMs: 180_000 });
  } catch (err) {
    unregister();
    await release();
    throw err;
  }
  const analytics = overrides.analytics ?? null;
  const reportTime = config.alerts.report.time;
  const reports =
    analytics && reportTime && channels.length
      ? startReportSchedule({ time: reportTime, timeZone: config.alerts.report.timeZone, dashboardUrl: config.alerts.dashboardUrl, analytics, alerter, ledger, warn: ctx.warn, ...(overrides.now ? { now: overrides.now } : {}) })
      : null;
  const stopService = service.stop.bind(service);
  return Object.assign(service, {
    alerter,
    channels,
    reports,
    async stop() {
      unregister();
      alerter.abort();
      await reports?.stop();
      await stopService();
    },
  });
}
