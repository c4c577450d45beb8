/**
 * What every ipwatch service gets when it starts, whether it runs alone (`ipwatch run
 * <name>`, the distributed mode) or beside the others in one process (`ipwatch dev`, the
 * embedded mode). Services depend on these interfaces, never on a concrete adapter.
 */
import type { IpwatchConfig } from './config.ts';
import type { EventLog } from './eventLog.ts';
import type { IpwatchMetrics } from './observability/metrics.ts';
import type { Health } from './observability/health.ts';

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
