/**
 * The dead-letter queue: where a message goes when it can never be processed (bad bytes,
 * a schema it does not match), so that its batch can be committed and the stream moves on
 * without losing it. A retriable failure is thrown instead (ARCHITECTURE.md, "Topics").
 */
import type { EventLog, LogMessage } from '../eventLog.ts';
import { TOPICS } from '../topics.ts';

/** Header names the DLQ adds beside the original headers. */
export const DLQ_HEADERS = {
  error: 'ipwatch-error',
  sourceTopic: 'ipwatch-source-topic',
  sourcePartition: 'ipwatch-source-partition',
  sourceOffset: 'ipwatch-source-offset',
  failedAt: 'ipwatch-failed-at',
} as const;

/** Longest error text kept in a header: enough to diagnose, bounded so one bad message cannot bloat the DLQ. */
const MAX_ERROR_CHARS = 1000;

export interface SendToDlqOptions {
  /** Default TOPICS.dlq. */
  topic?: string;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/**
 * Appends the original key and bytes to the DLQ with the error and where the message came from.
 *
 * @example
 * try { decodeRequest(m.value); } catch (err) { await sendToDlq(log, m, err); continue; }
 */
export async function sendToDlq(log: EventLog, message: LogMessage, error: unknown, opts: SendToDlqOptions = {}): Promise<void> {
  await log.produce(opts.topic ?? TOPICS.dlq, [
    {
      key: message.key,
      value: message.value,
      headers: {
        ...message.headers,
        [DLQ_HEADERS.error]: describeError(error).slice(0, MAX_ERROR_CHARS),
        [DLQ_HEADERS.sourceTopic]: message.topic,
        [DLQ_HEADERS.sourcePartition]: String(message.partition),
        [DLQ_HEADERS.sourceOffset]: message.offset,
        [DLQ_HEADERS.failedAt]: new Date((opts.now ?? Date.now)()).toISOString(),
      },
    },
  ]);
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
