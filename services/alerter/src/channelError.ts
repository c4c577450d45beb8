import { IpwatchError } from '@ipwatch/core/errors';
import type { ChannelName } from './alert.ts';

/**
 * A channel failed to send. `retriable`: worth trying again (a connection refused, a timeout,
 * an SMTP 4xx, an HTTP 5xx or 429); otherwise the message can never go as it is (an SMTP 5xx
 * such as an unknown recipient, an HTTP 4xx) and is given up at once.
 */
export class ChannelError extends IpwatchError {
  override readonly name = 'ChannelError';
  constructor(readonly channel: ChannelName, message: string, readonly retriable: boolean, options?: { cause?: unknown }) {
    super('IPWATCH_ALERT_CHANNEL_FAILED', `${channel}: ${message}`, options);
  }
}
