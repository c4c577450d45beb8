/**
 * Sending one message through one channel, once: claimed in the ledger, tried with back-off
 * while the channel is down, marked done when sent, and given up to the DLQ (with the error)
 * when the channel refuses it for good or the attempts run out. Alerts, digests, the daily
 * report and test alerts all go this way.
 */
import { TOPICS } from '@ipwatch/core/topics';
import { DLQ_HEADERS } from '@ipwatch/core/eventLog/dlq';
import type { EventLog } from '@ipwatch/core/eventLog';
import { backoffDelay, sleep, withJitter } from '@ipwatch/core/retry';
import type { Channel, Outgoing } from './alert.ts';
import { ChannelError } from './channelError.ts';
import type { AlertLedger } from './ledger.ts';

/** Held while sending, renewed before each attempt: longer than the longest wait plus one attempt. */
export const LEASE_MS = 150_000;
/** How long "sent" is remembered: the detections topic's retention, past which nothing is read again. */
export const KEEP_SENT_MS = 7 * 24 * 3600_000;
/** The longest wait between two attempts. */
export const MAX_RETRY_WAIT_MS = 60_000;

export type DeliveryResult =
  | { outcome: 'sent'; attempts: number }
  | { outcome: 'already_sent' }
  | { outcome: 'gave_up'; attempts: number; error: ChannelError };

export interface DeliveryOptions {
  ledger: AlertLedger;
  /** This process (its lease's owner). */
  owner: string;
  /** For the DLQ. */
  log: EventLog;
  retry: { attempts: number; minMs: number };
  /** Aborting ends the waits: the message is released unsent and the call rejects. */
  signal: AbortSignal;
  /** Each failed attempt (for metrics and health). */
  onAttemptFailed?: (channel: Channel, error: ChannelError, attempt: number) => void;
  now?: () => number;
}

export class DeliveryAborted extends Error {
  override readonly name = 'DeliveryAborted';
}

/** Anything thrown by a channel, as a ChannelError (an unexpected throw is retriable: it may be a bug, or a blip). */
function asChannelError(channel: Channel, err: unknown): ChannelError {
  if (err instanceof ChannelError) return err;
  return new ChannelError(channel.name, err instanceof Error ? err.message : String(err), true, { cause: err });
}

/**
 * Sends `message` through `channel` unless the ledger says it went already.
 *
 * @example
 * const r = await deliver(email, { id: alert.id, severity: alert.severity, rendered: renderAlert(alert) }, options);
 * if (r.outcome === 'gave_up') warn(r.error.message);
 */
export async function deliver(channel: Channel, message: Outgoing, options: DeliveryOptions): Promise<DeliveryResult> {
  const { ledger, owner, signal } = options;
  const key = `${channel.name}:${message.id}`;
  // Another process holds it (a rebalance in progress, a crashed alerter's lease): wait for it to
  // finish or for its lease to run out.
  for (;;) {
    if (signal.aborted) throw new DeliveryAborted(`stopped before ${key} was sent`);
    const claim = await ledger.claim(key, owner, LEASE_MS);
    if (claim === 'done') return { outcome: 'already_sent' };
    if (claim === 'mine') break;
    await sleep(1000, { signal });
  }
  let attempt = 0;
  for (;;) {
    attempt++;
    try {
      await channel.send(message);
      await ledger.done(key, KEEP_SENT_MS);
      return { outcome: 'sent', attempts: attempt };
    } catch (err) {
      const error = asChannelError(channel, err);
      options.onAttemptFailed?.(channel, error, attempt);
      if (!error.retriable || attempt >= options.retry.attempts) {
        await giveUp(channel, message, error, attempt, options);
        await ledger.done(key, KEEP_SENT_MS);
        return { outcome: 'gave_up', attempts: attempt, error };
      }
      await sleep(withJitter(backoffDelay(attempt, options.retry.minMs, MAX_RETRY_WAIT_MS)), { signal });
      if (signal.aborted) {
        await ledger.release(key, owner);
        throw new DeliveryAborted(`stopped while retrying ${key}`, { cause: error });
      }
      if ((await ledger.claim(key, owner, LEASE_MS)) !== 'mine') return { outcome: 'already_sent' };
    }
  }
}

/** The DLQ record of a message given up: its JSON payload, which channel, why, after how many attempts. */
async function giveUp(channel: Channel, message: Outgoing, error: ChannelError, attempts: number, options: DeliveryOptions): Promise<void> {
  const now = options.now ?? Date.now;
  await options.log.produce(TOPICS.dlq, [
    {
      key: message.id,
      value: Buffer.from(JSON.stringify(message.rendered.json)),
      headers: {
        [DLQ_HEADERS.error]: `${error.name}: ${error.message}`.slice(0, 1000),
        [DLQ_HEADERS.sourceTopic]: 'ipwatch-alerter',
        [DLQ_HEADERS.failedAt]: new Date(now()).toISOString(),
        'ipwatch-alert-channel': channel.name,
        'ipwatch-alert-attempts': String(attempts),
        'content-type': 'application/json',
      },
    },
  ]);
}
