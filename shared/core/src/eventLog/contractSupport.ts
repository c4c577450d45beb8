/**
 * What the event-log contract's tests share: a log per test, unique names, numbered
 * messages, a collecting handler, and waits with deadlines.
 *
 * @example
 * await waitFor(() => c.messages.length === 10, 'all 10 messages', () => sortedValues(c.messages).join(','));
 */
import { randomBytes } from 'node:crypto';
import type { EventLog, LogBatch, LogMessage, OutgoingMessage } from '../eventLog.ts';
import { withDeadline } from '../deadline.ts';
import { sleep } from '../retry.ts';

export { sleep };

export const TEST_TIMEOUT_MS = 30_000;

/** Runs a test body with a fresh client of the log, closed after it. */
export type WithLog = (fn: (log: EventLog) => Promise<void>) => Promise<void>;

export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** `perKey` messages for each key, interleaved, values `<tag>-<key>-<i>`; the key 'null-key' is sent with a null key. */
export function numbered(keys: string[], perKey: number, tag = 'm'): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (let i = 0; i < perKey; i++) {
    for (const key of keys) {
      out.push({ key: key === 'null-key' ? null : key, value: Buffer.from(`${tag}-${key}-${i}`), headers: { seq: String(i) } });
    }
  }
  return out;
}

export function collector(): { messages: LogMessage[]; batches: LogBatch[]; handle: (b: LogBatch) => Promise<void> } {
  const messages: LogMessage[] = [];
  const batches: LogBatch[] = [];
  return {
    messages,
    batches,
    handle: async (batch) => {
      batches.push(batch);
      messages.push(...batch.messages);
    },
  };
}

export function sortedValues(messages: Array<OutgoingMessage | LogMessage>): string[] {
  return messages.map((m) => m.value?.toString() ?? '<null>').sort();
}

export async function waitFor(cond: () => boolean, what: string, detail?: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? ` (${detail()})` : ''}`);
    await sleep(20);
  }
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, `timed out after ${ms} ms waiting for ${what}`);
}

/** Gives a wrong extra delivery time to show up before the test asserts there was none. */
export function settle(): Promise<void> {
  return sleep(300);
}
