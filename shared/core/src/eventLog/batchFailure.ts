/**
 * What both event-log adapters do when handle() fails: tell the consumer's onError, and
 * never let a hook that throws take the consume loop down.
 *
 * @example
 * onFailure: (err) => { this.failures++; reportBatchFailure(this.options, err, batch); return this.failures; }
 */
import type { ConsumeOptions, LogBatch } from '../eventLog.ts';

export function reportBatchFailure(options: Pick<ConsumeOptions, 'onError'>, err: unknown, batch: LogBatch): void {
  try {
    options.onError?.(err, batch);
  } catch {
    // A failing error callback must not kill the consume loop; the caller has counted the failure.
  }
}
