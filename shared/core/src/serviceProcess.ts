/**
 * Start-up and shut-down of a process's parts. Every part registers its stop as soon as it
 * has started, so a failure half-way through start (a busy port, an unreachable store)
 * stops what had already started, in reverse order, and the process exits with the
 * failure's message instead of hanging on an open consumer or server.
 */
import type { ServiceContext } from './service.ts';
import type { IpwatchMetrics } from './observability/metrics.ts';
import { startObservabilityServer, type ObservabilityServer } from './observability/server.ts';

export { PortInUseError } from './observability/server.ts';

export interface Stops {
  /** Registers how to stop a part that has just started. */
  add(what: string, stop: () => unknown): void;
  /** Stops every registered part, last started first; a failing or hanging stop is reported and the rest still run. */
  stopAll(): Promise<void>;
}

/**
 * @example
 * const stops = createStops(ctx.warn);
 * const analytics = await openAnalytics(config);
 * stops.add('store', () => analytics.close());
 * // ... on shutdown, or when a later part fails to start:
 * await stops.stopAll();
 */
export function createStops(warn: (message: string, err?: unknown) => void, stopTimeoutMs = 15_000): Stops {
  const registered: Array<{ what: string; stop: () => unknown }> = [];
  return {
    add(what, stop) {
      registered.push({ what, stop });
    },
    async stopAll() {
      while (registered.length > 0) {
        const { what, stop } = registered.pop()!;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          // Not unref'd: cleared as soon as the stop ends, it holds the process at most stopTimeoutMs.
          timer = setTimeout(() => resolve('timeout'), stopTimeoutMs);
        });
        try {
          const result = await Promise.race([Promise.resolve().then(stop), timeout]);
          if (result === 'timeout') warn(`stopping ${what} took over ${stopTimeoutMs} ms; going on without it`);
        } catch (err) {
          warn(`stopping ${what} failed`, err);
        } finally {
          clearTimeout(timer);
        }
      }
    },
  };
}

/**
 * Runs `start`, which registers each part's stop as it goes; if it throws, what had
 * started is stopped before the error is passed on.
 */
export async function startOrUnwind<T>(stops: Stops, start: (stops: Stops) => Promise<T>): Promise<T> {
  try {
    return await start(stops);
  } catch (err) {
    await stops.stopAll();
    throw err;
  }
}

export interface ServiceProcessOptions<T> {
  ctx: ServiceContext;
  metrics: IpwatchMetrics;
  /** Where /metrics and /healthz listen (0: any free port). */
  metricsPort: number;
  metricsHost?: string;
  /** Starts the service, registering the stop of each part it starts. */
  start: (stops: Stops) => Promise<T>;
}

export interface ServiceProcess<T> {
  readonly service: T;
  readonly observability: ObservabilityServer;
  /** Stops the service, then /metrics and the event log. */
  stop(): Promise<void>;
}

/**
 * A service as a process: /metrics and /healthz first (so an orchestrator sees a service
 * that is still reading to the end), then the service; the event log is closed last. A
 * failure anywhere in start stops what had started and rejects with that failure.
 *
 * @example
 * const proc = await startServiceProcess({ ctx, metrics, metricsPort: config.metricsPort, start: (stops) => startEnricherService(ctx, metrics, stops) });
 * await untilSignal();
 * await proc.stop();
 */
export async function startServiceProcess<T>(options: ServiceProcessOptions<T>): Promise<ServiceProcess<T>> {
  const { ctx } = options;
  const stops = createStops(ctx.warn);
  stops.add('the event log', () => ctx.log.close());
  return startOrUnwind(stops, async () => {
    const observability = await startObservabilityServer({ port: options.metricsPort, ...(options.metricsHost === undefined ? {} : { host: options.metricsHost }), access: ctx.config.metricsAccess, metrics: options.metrics, health: ctx.health });
    stops.add('/metrics and /healthz', () => observability.close());
    const service = await options.start(stops);
    return { service, observability, stop: () => stops.stopAll() };
  });
}
