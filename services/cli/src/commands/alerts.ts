import { hostname } from 'node:os';
import { loadConfig } from '@ipwatch/core/config';
import { channelsFromConfig, renderTest, type Channel, type ChannelName } from '@ipwatch/alerter';
import { out, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

const CHANNELS: readonly ChannelName[] = ['email', 'webhook', 'slack'];

export const help = `ipwatch alerts test [--channel email|webhook|slack]
  Sends a test alert through each configured channel (or the one named), now, once, without
  retrying, and says which worked and, for the others, why not. Exit code 1 when one failed.
  Channels are configured by IPWATCH_SMTP_HOST (+ IPWATCH_ALERT_EMAIL_FROM, _TO),
  IPWATCH_ALERT_WEBHOOK_URL (+ _SECRET) and IPWATCH_ALERT_SLACK_URL (README, "Alerts").`;

const HOW_TO_CONFIGURE: Record<ChannelName, string> = {
  email: 'set IPWATCH_SMTP_HOST, IPWATCH_ALERT_EMAIL_FROM and IPWATCH_ALERT_EMAIL_TO',
  webhook: 'set IPWATCH_ALERT_WEBHOOK_URL and IPWATCH_ALERT_WEBHOOK_SECRET',
  slack: 'set IPWATCH_ALERT_SLACK_URL',
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(argv, { channel: { type: 'string' } }, true);
  if (positionals[0] !== 'test' || positionals.length > 1) throw new UsageError('say what to do: ipwatch alerts test [--channel email|webhook|slack]');
  const only = values.channel as ChannelName | undefined;
  if (only !== undefined && !CHANNELS.includes(only)) throw new UsageError(`--channel ${JSON.stringify(only)} is not a channel: email, webhook or slack`);
  const config = loadConfig();
  const all = channelsFromConfig(config.alerts);
  const channels = only ? all.filter((c) => c.name === only) : all;
  if (channels.length === 0) {
    const names = only ? [only] : CHANNELS;
    throw new UsageError(`no ${only ?? 'alert'} channel is configured: ${names.map((n) => `${n}: ${HOW_TO_CONFIGURE[n]}`).join('; ')}`);
  }
  let failed = 0;
  try {
    for (const channel of channels) {
      const problem = await tryChannel(channel, config.alerts.dashboardUrl);
      if (problem === null) out(`${channel.name}: sent to ${channel.describe}`);
      else {
        failed++;
        // A channel's errors start with its name already.
        out(`${channel.name}: FAILED: ${printable(problem.startsWith(`${channel.name}: `) ? problem.slice(channel.name.length + 2) : problem)}`);
      }
    }
  } finally {
    await Promise.allSettled(channels.map((c) => c.close()));
  }
  if (!only) for (const name of CHANNELS) if (!all.some((c) => c.name === name)) out(`${name}: not configured (${HOW_TO_CONFIGURE[name]})`);
  return failed ? 1 : 0;
}

/** null when the test alert went; otherwise why not. */
async function tryChannel(channel: Channel, url: string): Promise<string | null> {
  const ts = Date.now();
  try {
    await channel.send({ id: `test:${hostname()}:${ts}`, severity: 'low', rendered: renderTest({ ts, channel: channel.name, url }) });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
