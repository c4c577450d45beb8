/** Builds the ServiceContext from the validated config: the one place adapters are chosen. */
import type { IpwatchConfig } from '@ipwatch/core/config';
import { createEventLog } from '@ipwatch/core/eventLog/index';
import type { EventLog } from '@ipwatch/core/eventLog';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics, type IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { ServiceContext } from '@ipwatch/core/service';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { info } from './output.ts';

export function describeMode(config: Readonly<IpwatchConfig>): string {
  return [
    config.kafka ? `Kafka at ${config.kafka.brokers.join(',')}` : 'in-process event log',
    config.clickhouse ? `ClickHouse at ${config.clickhouse.url}` : `chDB in ${config.dataDir}`,
    config.redis ? `Redis at ${config.redis.url}` : 'in-process state',
  ].join(', ');
}

/**
 * @param sharedMetrics one registry for every service of the process (embedded mode, where
 *   they share one /metrics endpoint); otherwise each service gets its own.
 */
export function createContext(config: Readonly<IpwatchConfig>, options: { log?: EventLog; sharedMetrics?: IpwatchMetrics } = {}): ServiceContext {
  const lastWarn = new Map<string, number>();
  return {
    config,
    log: options.log ?? createEventLog(config),
    health: createHealth(),
    metrics: (service) => options.sharedMetrics ?? createMetrics(service),
    warn(message, err) {
      // A failing dependency retries many times a second; one line per message per 5 s is enough.
      const now = Date.now();
      if (now - (lastWarn.get(message) ?? 0) < 5000) return;
      lastWarn.set(message, now);
      info(`warning: ${message}${err ? `: ${(err as Error).message ?? String(err)}` : ''}`);
    },
  };
}


/**
 * The shared lists of this process: Redis when the config names it (every app instance and
 * blocksync see the same lists), otherwise in-process (embedded: blocksync and the demo
 * app's emitter share this one object).
 */
export function createSharedListsFor(config: Readonly<IpwatchConfig>): SharedLists {
  return config.redis ? createRedisSharedLists(config.redis.url, { name: 'ipwatch-lists' }) : createMemorySharedLists();
}
