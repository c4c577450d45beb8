/**
 * A pipeline step's answer for one message, as a tagged result (PostHog's ingestion
 * steps): `ok` carries the value on, `dlq` sends the message to the dead-letter topic
 * (it can never be processed), `drop` discards it on purpose. A retriable failure is
 * neither: the step throws, and the batch is offered again.
 */
import type { EventLog, LogMessage } from './eventLog.ts';
import { sendToDlq } from './eventLog/dlq.ts';
import { DecodeError } from './schemas.ts';
import type { IpwatchMetrics } from './observability/metrics.ts';

export type StepResult<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'dlq'; readonly reason: string; readonly error: unknown }
  | { readonly kind: 'drop'; readonly reason: string };

export const ok = <T>(value: T): StepResult<T> => ({ kind: 'ok', value });
export const dlq = (reason: string, error: unknown): StepResult<never> => ({ kind: 'dlq', reason, error });
export const drop = (reason: string): StepResult<never> => ({ kind: 'drop', reason });

/**
 * Runs `step` and turns the errors that mean "this message can never be processed"
 * (DecodeError, and any class in `permanent`) into a `dlq` result; anything else is
 * rethrown, so the batch is retried.
 *
 * @example
 * const result = decodeStep('decode', () => codecs.RequestEvent.decode(m.value!));
 */
export function decodeStep<T>(reason: string, step: () => T, permanent: ReadonlyArray<abstract new (...args: never[]) => Error> = []): StepResult<T> {
  try {
    return ok(step());
  } catch (err) {
    if (err instanceof DecodeError || permanent.some((cls) => err instanceof cls)) return dlq(reason, err);
    throw err;
  }
}

export interface ApplyStepOptions {
  log: EventLog;
  metrics: Pick<IpwatchMetrics, 'dlq' | 'dropped'>;
  /** Told about each message sent to the DLQ or dropped (a service's warn, say). */
  onRejected?: (result: Exclude<StepResult<unknown>, { kind: 'ok' }>, message: LogMessage) => void;
}

/**
 * Applies a step's result to the message it came from: the value for `ok`, otherwise
 * `undefined` once the message is in the DLQ (with its error and origin in headers) or
 * dropped, each counted (`ipwatch_dlq_total` by topic, `ipwatch_dropped_total` by reason).
 *
 * @example
 * const event = await applyStep(decodeStep('decode', () => decode(m)), m, { log, metrics });
 * if (event === undefined) continue;
 */
export async function applyStep<T>(result: StepResult<T>, message: LogMessage, options: ApplyStepOptions): Promise<T | undefined> {
  if (result.kind === 'ok') return result.value;
  options.onRejected?.(result, message);
  if (result.kind === 'drop') {
    options.metrics.dropped.inc({ reason: result.reason });
    return undefined;
  }
  await sendToDlq(options.log, message, result.error);
  options.metrics.dlq.inc({ topic: message.topic });
  return undefined;
}
