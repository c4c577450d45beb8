/** The channels the configuration turns on (IPWATCH_SMTP_HOST, IPWATCH_ALERT_WEBHOOK_URL, IPWATCH_ALERT_SLACK_URL). */
import type { AlertsConfig } from '@ipwatch/core/config';
import type { Channel } from '../alert.ts';
import { createEmailChannel } from './email.ts';
import { createSlackChannel, createWebhookChannel } from './webhook.ts';

/**
 * @example
 * const channels = channelsFromConfig(loadConfig().alerts); // [] when none is configured
 */
export function channelsFromConfig(alerts: AlertsConfig): Channel[] {
  const channels: Channel[] = [];
  if (alerts.email) channels.push(createEmailChannel(alerts.email));
  if (alerts.webhook) channels.push(createWebhookChannel({ ...alerts.webhook, format: 'json' }));
  if (alerts.slack) channels.push(createSlackChannel(alerts.slack));
  return channels;
}
