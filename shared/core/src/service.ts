/**
 * What every ipwatch service gets when it starts, whether it runs alone (`ipwatch run
 * <name>`, the distributed mode) or beside the others in one process (`ipwatch dev`, the
 * embedded mode), and the one shape of a consumer service: a consume loop with its health
 * (ok, degraded, error including "the loop has stalled") and its consumer-lag metric.
 * Services depend on these interfaces, never on a concrete adapter.
 */
import type { IpwatchConfig } from './config.ts';
import type { ConsumeOptions, EventLog, LogConsumer } from './eventLog.ts';
import type { IpwatchMetrics } from './observability/metrics.ts';
import { consumerHealthCheck, type Health } from './observability/health.ts';
import { trackConsumerLag } from './observability/consumerLag.ts';

export interface ServiceContext {
  config: Readonly<IpwatchConfig>;
  log: EventLog;
  health: Health;
  /** Creates this service's metrics (one registry each, so several can share a process). */
  metrics(service: string): IpwatchMetrics;
  /** Where a service reports trouble it survives (a failed batch that will be retried). */
  warn(message: string, err?: unknown): void;
}

export interface RunningService {
  readonly name: string;
  stop(): Promise<void>;
}

/** A consume loop that starts and stops (the enricher's, the sink's, or one made by `handlerLoop`). */
export interface ConsumeLoop {
  start(): Promise<LogConsumer>;
  stop(): Promise<void>;
}

export interface ConsumerServiceSpec {
  /** The service's name: its health check and its log lines. */
  name: string;
  /** The consumer group, as labelled on `ipwatch_consumer_lag`. */
  group: string;
  metrics: IpwatchMetrics;
  loop: ConsumeLoop;
  /** No poll for this long is a stalled loop (health error). Default 30 s. */
  stallAfterMs?: number;
  /** Lag above this is degraded. Default: not judged. */
  maxLag?: number;
  /** Frees what the loop used (a geo database, say), after the loop has stopped or failed to start. */
  release?: () => void | Promise<void>;
}

export interface ConsumerService extends RunningService {
  readonly consumer: LogConsumer;
}

/**
 * Starts a consume loop and wires it the one way every consumer service is wired: a
 * health check under its name and the consumer-lag gauge. Stopping undoes all three.
 *
 * @example
 * const loop = handlerLoop(ctx, { group: 'ipwatch-scorer', metrics, topics: [TOPICS.enriched], errorKind: 'score', handle });
 * return startConsumerService(ctx, { name: 'scorer', group: 'ipwatch-scorer', metrics, loop });
 */
export async function startConsumerService(ctx: ServiceContext, spec: ConsumerServiceSpec): Promise<ConsumerService> {
  let consumer: LogConsumer;
  try {
    consumer = await spec.loop.start();
  } catch (err) {
    await spec.release?.();
    throw err;
  }
  let unregister: () => void;
  try {
    unregister = ctx.health.register(spec.name, consumerHealthCheck(consumer, { stallAfterMs: spec.stallAfterMs ?? 30_000, ...(spec.maxLag === undefined ? {} : { maxLag: spec.maxLag }) }));
  } catch (err) {
    await spec.loop.stop();
    await spec.release?.();
    throw err;
  }
  const stopLag = trackConsumerLag(spec.metrics, spec.group, consumer);
  return {
    name: spec.name,
    consumer,
    async stop() {
      stopLag();
      unregister();
      await spec.loop.stop();
      await spec.release?.();
    },
  };
}

export interface HandlerLoopOptions extends Omit<ConsumeOptions, 'groupId' | 'onError'> {
  group: string;
  metrics: IpwatchMetrics;
  /** The `kind` label of `ipwatch_errors_total` for a failed attempt. */
  errorKind: string;
}

/**
 * A consume loop made from a batch handler: failed attempts are counted and warned about
 * (the event log retries them), so a new service is its handler plus a few lines.
 */
export function handlerLoop(ctx: ServiceContext, options: HandlerLoopOptions): ConsumeLoop {
  const { group, metrics, errorKind, ...consume } = options;
  let consumer: LogConsumer | undefined;
  return {
    async start() {
      consumer = await ctx.log.consume({
        ...consume,
        groupId: group,
        onError: (err) => {
          metrics.errors.inc({ kind: errorKind });
          ctx.warn(`${group}: batch failed, retrying`, err);
        },
      });
      return consumer;
    },
    async stop() {
      await consumer?.stop();
    },
  };
}
