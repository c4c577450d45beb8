/** Publishes a consume loop's lag as the `ipwatch_consumer_lag` gauge, sampled every few seconds. */
import type { ConsumerStatus } from '../eventLog.ts';
import type { IpwatchMetrics } from './metrics.ts';

/**
 * @example
 * const stopLag = trackConsumerLag(metrics, 'ipwatch-sink', consumer);
 * // on shutdown
 * stopLag();
 */
export function trackConsumerLag(metrics: IpwatchMetrics, group: string, consumer: { status(): ConsumerStatus }, everyMs = 5000): () => void {
  const sample = () => {
    const { lag } = consumer.status();
    if (lag !== null) metrics.consumerLag.set({ group }, lag);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
