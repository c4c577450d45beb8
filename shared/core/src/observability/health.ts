/**
 * Health in three states, PostHog style: `ok`, `degraded` (working, but someone should
 * look: a batch being retried, lag growing) and `error` (not doing its job: the loop has
 * stalled, the consumer stopped). A service registers one check per moving part; /healthz
 * answers the worst of them, with each check's detail.
 */
import type { ConsumerStatus } from '../eventLog.ts';

export type HealthState = 'ok' | 'degraded' | 'error';

export interface CheckResult {
  state: HealthState;
  /** What a person reading /healthz needs to know, e.g. "no poll for 42 s". */
  detail?: string;
}

export type HealthCheck = () => CheckResult | Promise<CheckResult>;

export interface HealthReport {
  /** The worst state of all checks; ok when there are none. */
  state: HealthState;
  checks: Record<string, CheckResult>;
}

export interface Health {
  /** Adds a named check; returns a function that removes it again. */
  register(name: string, check: HealthCheck): () => void;
  /** Runs every check (concurrently) and aggregates them. Never rejects. */
  report(): Promise<HealthReport>;
}

export interface HealthOptions {
  /** A check that has not answered after this long counts as error. Default 2000 ms. */
  checkTimeoutMs?: number;
}

const SEVERITY: Record<HealthState, number> = { ok: 0, degraded: 1, error: 2 };

/** The worse of two states. */
export function worstState(a: HealthState, b: HealthState): HealthState {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/**
 * @example
 * const health = createHealth();
 * health.register('consumer', consumerHealthCheck(consumer, { stallAfterMs: 30_000 }));
 * const { state, checks } = await health.report();
 */
export function createHealth(options: HealthOptions = {}): Health {
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const checks = new Map<string, HealthCheck>();

  const run = async (check: HealthCheck): Promise<CheckResult> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ state: 'error', detail: `the check did not answer within ${timeoutMs} ms` }), timeoutMs);
    });
    try {
      const result = await Promise.race([Promise.resolve().then(check), timeout]);
      if (!result || !Object.hasOwn(SEVERITY, result.state)) {
        return { state: 'error', detail: `the check returned an invalid result: ${JSON.stringify(result)}` };
      }
      return result;
    } catch (err) {
      // A check that throws is itself a failure to report, not a reason to fail /healthz.
      return { state: 'error', detail: `the check threw: ${err instanceof Error ? err.message : String(err)}` };
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    register(name, check) {
      if (checks.has(name)) throw new Error(`health check ${JSON.stringify(name)} is already registered`);
      checks.set(name, check);
      return () => {
        if (checks.get(name) === check) checks.delete(name);
      };
    },
    async report() {
      const entries = [...checks];
      const results = await Promise.all(entries.map(([, check]) => run(check)));
      const report: HealthReport = { state: 'ok', checks: {} };
      entries.forEach(([name], i) => {
        const result = results[i] ?? { state: 'error', detail: 'no result' };
        report.checks[name] = result;
        report.state = worstState(report.state, result.state);
      });
      return report;
    },
  };
}

export interface ConsumerHealthOptions {
  /** No poll for this long while running is a stalled loop: error. */
  stallAfterMs: number;
  /** Lag above this many messages is degraded. Default: lag is not judged. */
  maxLag?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/**
 * The health of one consume loop: error when it is not running or has not polled for
 * `stallAfterMs`; degraded while the current batch keeps failing or the lag is above
 * `maxLag`; ok otherwise.
 *
 * @example
 * health.register('consumer:enricher', consumerHealthCheck(consumer, { stallAfterMs: 30_000, maxLag: 100_000 }));
 */
export function consumerHealthCheck(consumer: { status(): ConsumerStatus }, options: ConsumerHealthOptions): HealthCheck {
  const now = options.now ?? Date.now;
  // Before the first poll, a stall is measured from when the check was made.
  const createdAt = now();
  return () => {
    const status = consumer.status();
    if (!status.running) return { state: 'error', detail: 'the consumer is not running' };

    const since = status.lastPollAt > 0 ? status.lastPollAt : createdAt;
    const silentMs = now() - since;
    if (silentMs >= options.stallAfterMs) {
      const what = status.lastPollAt > 0 ? 'no poll' : 'no first poll';
      return { state: 'error', detail: `the consume loop has stalled: ${what} for ${formatSeconds(silentMs)} s` };
    }

    const problems: string[] = [];
    if (status.failures >= 1) {
      problems.push(`the current batch has failed ${status.failures} time${status.failures === 1 ? '' : 's'} and is being retried`);
    }
    if (options.maxLag !== undefined && status.lag !== null && status.lag > options.maxLag) {
      problems.push(`lag of ${status.lag} messages is above ${options.maxLag}`);
    }
    if (problems.length) return { state: 'degraded', detail: problems.join('; ') };
    return { state: 'ok', detail: status.lag === null ? 'polling' : `polling, lag ${status.lag}` };
  };
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return s >= 10 ? String(Math.round(s)) : s.toFixed(1);
}
