/**
 * The Prometheus metrics every ipwatch service exposes on /metrics. The standard metrics
 * are declared here, at the top, with their unit and allowed labels, so a dashboard can be
 * written once for every service; a service adds its own through the same registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every ipwatch metric name starts with this, the Node process metrics included. */
export const METRIC_PREFIX = 'ipwatch_';

/**
 * prom-client's default metrics include three gauges named `..._total`, which Prometheus
 * reserves for counters (promtool flags them); their per-type siblings
 * (`nodejs_active_handles{type}`, ...) stay, and sum() gives the same figure.
 */
const DEFAULT_GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Messages per handled batch: from a trickle up to the sink's largest insert (IPWATCH_SINK_BATCH_SIZE caps at 1e6). */
const BATCH_SIZE_BUCKETS = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000];
/** Seconds to handle one batch: a cache hit is sub-millisecond, a ClickHouse insert can take seconds. */
const STAGE_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface MetricSpec<L extends string> {
  name: string;
  unit: string;
  help: string;
  labelNames: readonly L[];
}

/** The standard metrics: name, unit, meaning and the only labels each may carry (plus the constant `service`). */
export const STANDARD_METRICS = {
  eventsIn: { name: 'ipwatch_events_in_total', unit: 'messages', help: 'Messages consumed from the event log.', labelNames: ['topic'] },
  eventsOut: { name: 'ipwatch_events_out_total', unit: 'messages', help: 'Messages produced to the event log.', labelNames: ['topic'] },
  batchSize: { name: 'ipwatch_batch_size', unit: 'messages', help: 'Messages per batch handled by a stage.', labelNames: ['stage'] },
  consumerLag: { name: 'ipwatch_consumer_lag', unit: 'messages', help: 'Messages behind the end of the log, summed over the partitions the group owns here.', labelNames: ['group'] },
  errors: { name: 'ipwatch_errors_total', unit: 'errors', help: 'Failures, by kind (a retried batch counts once per attempt).', labelNames: ['kind'] },
  dropped: { name: 'ipwatch_dropped_total', unit: 'messages', help: 'Messages dropped on purpose, by reason.', labelNames: ['reason'] },
  dlq: { name: 'ipwatch_dlq_total', unit: 'messages', help: 'Messages sent to the dead-letter topic, by the topic they came from.', labelNames: ['topic'] },
  stageSeconds: { name: 'ipwatch_stage_seconds', unit: 'seconds', help: 'Processing time of one batch, by stage.', labelNames: ['stage'] },
} as const satisfies Record<string, MetricSpec<string>>;

/** Configuration of a service's own metric: `name` must start with `ipwatch_`. */
export interface ExtraMetricConfig<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** Sets a collected counter to a running total kept elsewhere (never smaller than before). */
export interface CounterTotals<L extends string> {
  set(labels: Partial<Record<L, string | number>>, total: number): void;
  set(total: number): void;
}

export interface CollectedCounterConfig<L extends string> extends ExtraMetricConfig<L> {
  /** Called at each scrape to set the totals from counts kept elsewhere (a part's own stats()). */
  collect?: (totals: CounterTotals<L>) => void;
}

export interface CollectedGaugeConfig<L extends string> extends ExtraMetricConfig<L> {
  /** Called at each scrape to set the gauge from the current state (for figures kept elsewhere). */
  collect?: (gauge: Gauge<L>) => void;
}

export interface IpwatchMetrics {
  readonly service: string;
  /** This service's own registry (never the prom-client global one), so tests and embedded mode can hold several. */
  readonly registry: Registry;
  /** Content-Type of `text()`, for the HTTP answer. */
  readonly contentType: string;

  readonly eventsIn: Counter<'topic'>;
  readonly eventsOut: Counter<'topic'>;
  readonly batchSize: Histogram<'stage'>;
  readonly consumerLag: Gauge<'group'>;
  readonly errors: Counter<'kind'>;
  readonly dropped: Counter<'reason'>;
  readonly dlq: Counter<'topic'>;
  readonly stageSeconds: Histogram<'stage'>;

  /** Registers a service's own counter in this registry (its name must end in `_total`). */
  counter<L extends string = never>(config: CollectedCounterConfig<L>): Counter<L>;
  /** Registers a service's own gauge in this registry. */
  gauge<L extends string = never>(config: CollectedGaugeConfig<L>): Gauge<L>;
  /** Registers a service's own histogram in this registry. */
  histogram<L extends string = never>(config: ExtraMetricConfig<L> & { buckets?: number[] }): Histogram<L>;
  /** Every metric of this registry in the Prometheus text format. */
  text(): Promise<string>;
}

/**
 * Creates the metrics of one service, in a registry of its own holding the default Node
 * process metrics (prefixed `ipwatch_`) and the standard metrics. Every metric carries the
 * constant label `service`.
 *
 * @example
 * const metrics = createMetrics('enricher');
 * metrics.eventsIn.inc({ topic: 'ipwatch.requests.v1' }, batch.messages.length);
 * const done = metrics.stageSeconds.startTimer({ stage: 'enrich' });
 * // ... handle the batch ...
 * done();
 * const cacheHits = metrics.counter({ name: 'ipwatch_geo_cache_hits_total', help: 'Geo lookups answered from the cache.' });
 */
export function createMetrics(service: string): IpwatchMetrics {
  if (!/^[A-Za-z0-9_.-]+$/.test(service)) {
    throw new Error(`createMetrics: service name ${JSON.stringify(service)} must be letters, digits, '.', '_' or '-'`);
  }
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  for (const name of DEFAULT_GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  const registers = [registry];
  // HELP carries the unit, so a reader of /metrics sees what a number counts.
  const std = <L extends string>(spec: MetricSpec<L>) => ({ name: spec.name, help: `${spec.help} Unit: ${spec.unit}.`, labelNames: spec.labelNames, registers });
  const s = STANDARD_METRICS;

  const checkName = (name: string, kind: 'counter' | 'gauge' | 'histogram'): void => {
    if (!name.startsWith(METRIC_PREFIX)) {
      throw new Error(`metric ${JSON.stringify(name)} must start with ${JSON.stringify(METRIC_PREFIX)} so every ipwatch series is found under one prefix`);
    }
    // Prometheus conventions: a counter ends in _total and nothing else does; base units (seconds, bytes), never ms.
    if ((kind === 'counter') !== name.endsWith('_total')) {
      throw new Error(`metric ${JSON.stringify(name)}: ${kind === 'counter' ? 'a counter must end in _total' : `a ${kind} must not end in _total (that suffix means a counter)`}`);
    }
    if (/_(ms|milliseconds|us|microseconds|ns|kb|mb|kilobytes|megabytes)(_|$)/.test(name)) {
      throw new Error(`metric ${JSON.stringify(name)}: use base units in the name and the value (_seconds, _bytes)`);
    }
    if (registry.getSingleMetric(name)) {
      throw new Error(`metric ${JSON.stringify(name)} is already registered for service ${JSON.stringify(service)}; create it once and share it`);
    }
  };

  return {
    service,
    registry,
    contentType: registry.contentType,
    eventsIn: new Counter(std(s.eventsIn)),
    eventsOut: new Counter(std(s.eventsOut)),
    batchSize: new Histogram({ ...std(s.batchSize), buckets: BATCH_SIZE_BUCKETS }),
    consumerLag: new Gauge(std(s.consumerLag)),
    errors: new Counter(std(s.errors)),
    dropped: new Counter(std(s.dropped)),
    dlq: new Counter(std(s.dlq)),
    stageSeconds: new Histogram({ ...std(s.stageSeconds), buckets: STAGE_SECONDS_BUCKETS }),

    counter<L extends string = never>(config: CollectedCounterConfig<L>): Counter<L> {
      checkName(config.name, 'counter');
      const { collect } = config;
      return new Counter<L>({
        name: config.name,
        help: config.help,
        labelNames: config.labelNames ?? [],
        registers,
        ...(collect && {
          collect(this: Counter<L>) {
            // Totals kept elsewhere are copied in whole at each scrape: reset, then add each total.
            this.reset();
            const counter = this as unknown as { inc(labels: unknown, value?: number): void; inc(value?: number): void };
            collect({
              set: (labelsOrTotal: Partial<Record<L, string | number>> | number, total?: number) => {
                if (typeof labelsOrTotal === 'number') counter.inc(labelsOrTotal);
                else counter.inc(labelsOrTotal, total ?? 0);
              },
            } as CounterTotals<L>);
          },
        }),
      });
    },
    gauge<L extends string = never>(config: CollectedGaugeConfig<L>): Gauge<L> {
      checkName(config.name, 'gauge');
      const { collect } = config;
      return new Gauge<L>({
        name: config.name,
        help: config.help,
        labelNames: config.labelNames ?? [],
        registers,
        ...(collect && {
          collect(this: Gauge<L>) {
            collect(this);
          },
        }),
      });
    },
    histogram<L extends string = never>(config: ExtraMetricConfig<L> & { buckets?: number[] }): Histogram<L> {
      checkName(config.name, 'histogram');
      return new Histogram<L>({
        name: config.name,
        help: config.help,
        labelNames: config.labelNames ?? [],
        ...(config.buckets ? { buckets: config.buckets } : {}),
        registers,
      });
    },
    text: () => registry.metrics(),
  };
}
