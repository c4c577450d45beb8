import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.ts';

const SMTP = { IPWATCH_SMTP_HOST: 'mail.example.com', IPWATCH_ALERT_EMAIL_FROM: 'ipwatch <ipwatch@example.com>', IPWATCH_ALERT_EMAIL_TO: 'ops@example.com, sec@example.com' };
const SECRET = 'f'.repeat(8) + '0123456789abcdef0123456789abcdef';

/** The problems loadConfig reports for `env`. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/tmp');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

test('no alert variables: no channel, defaults for the rest', () => {
  const { alerts } = loadConfig({}, '/tmp');
  assert.equal(alerts.email, null);
  assert.equal(alerts.webhook, null);
  assert.equal(alerts.slack, null);
  assert.equal(alerts.quietMs, 3600_000);
  assert.equal(alerts.maxPerMinute, 10);
  assert.deepEqual(alerts.report, { time: '07:00', timeZone: 'UTC' });
  assert.equal(alerts.dashboardUrl, 'http://127.0.0.1:7070');
});

test('email: the SMTP settings read whole, recipients split, TLS and port defaults', () => {
  const { alerts } = loadConfig({ ...SMTP, IPWATCH_SMTP_USER: 'ipwatch', IPWATCH_SMTP_PASSWORD: 'p@ss word!' }, '/tmp');
  assert.deepEqual(alerts.email, {
    host: 'mail.example.com', port: 587, tls: 'starttls', user: 'ipwatch', password: 'p@ss word!',
    from: 'ipwatch <ipwatch@example.com>', to: ['ops@example.com', 'sec@example.com'], minSeverity: 'high',
  });
  assert.equal(loadConfig({ ...SMTP, IPWATCH_SMTP_TLS: 'tls' }, '/tmp').alerts.email?.port, 465);
});

test('a missing or malformed SMTP password, sender or recipient is refused with the variable\'s name', () => {
  assert.match(problems({ ...SMTP, IPWATCH_SMTP_USER: 'ipwatch' }).join('\n'), /IPWATCH_SMTP_PASSWORD is missing/);
  assert.match(problems({ ...SMTP, IPWATCH_SMTP_USER: 'ipwatch', IPWATCH_SMTP_PASSWORD: 'a\nb' }).join('\n'), /IPWATCH_SMTP_PASSWORD holds a line break/);
  assert.match(problems({ ...SMTP, IPWATCH_SMTP_PASSWORD: 'secret' }).join('\n'), /IPWATCH_SMTP_PASSWORD is set without IPWATCH_SMTP_USER/);
  assert.match(problems({ IPWATCH_SMTP_HOST: 'mail.example.com' }).join('\n'), /IPWATCH_ALERT_EMAIL_FROM is missing[\s\S]*IPWATCH_ALERT_EMAIL_TO is missing/);
  assert.match(problems({ ...SMTP, IPWATCH_ALERT_EMAIL_TO: 'ops@example.com,not an address' }).join('\n'), /IPWATCH_ALERT_EMAIL_TO: "not an address" is not an address/);
  assert.match(problems({ ...SMTP, IPWATCH_SMTP_HOST: 'smtp://mail.example.com:25' }).join('\n'), /IPWATCH_SMTP_HOST=.* is not a host name/);
  assert.match(problems({ ...SMTP, IPWATCH_SMTP_TLS: 'yes' }).join('\n'), /IPWATCH_SMTP_TLS="yes" must be starttls, tls or none/);
  assert.match(problems({ IPWATCH_ALERT_EMAIL_TO: 'ops@example.com' }).join('\n'), /IPWATCH_ALERT_EMAIL_TO is set but IPWATCH_SMTP_HOST is not/);
  // A password is never echoed.
  assert.ok(!problems({ ...SMTP, IPWATCH_SMTP_USER: 'u', IPWATCH_SMTP_PASSWORD: 'hunter2\u0007' }).join('\n').includes('hunter2'));
});

test('webhooks: a URL needs a strong secret; a malformed URL is refused without echoing it', () => {
  const { alerts } = loadConfig({ IPWATCH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/ipwatch', IPWATCH_ALERT_WEBHOOK_SECRET: SECRET, IPWATCH_ALERT_SLACK_URL: 'https://hooks.slack.com/services/T0/B0/xyz' }, '/tmp');
  assert.deepEqual(alerts.webhook, { url: 'https://hooks.example.com/ipwatch', secret: SECRET, minSeverity: 'medium' });
  assert.deepEqual(alerts.slack, { url: 'https://hooks.slack.com/services/T0/B0/xyz', minSeverity: 'high' });
  assert.match(problems({ IPWATCH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/ipwatch' }).join('\n'), /IPWATCH_ALERT_WEBHOOK_SECRET is missing/);
  assert.match(problems({ IPWATCH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x', IPWATCH_ALERT_WEBHOOK_SECRET: 'short' }).join('\n'), /IPWATCH_ALERT_WEBHOOK_SECRET is too weak/);
  const bad = problems({ IPWATCH_ALERT_SLACK_URL: 'hooks.slack.com/services/T0/B0/secretpart' }).join('\n');
  assert.match(bad, /IPWATCH_ALERT_SLACK_URL is not a URL/);
  assert.ok(!bad.includes('secretpart'), 'a webhook URL may hold a secret: never echoed');
  assert.match(problems({ IPWATCH_ALERT_WEBHOOK_URL: 'ftp://x.example.com/', IPWATCH_ALERT_WEBHOOK_SECRET: SECRET }).join('\n'), /must be an http:\/\/ or https:\/\/ URL/);
  assert.match(problems({ IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'urgent', IPWATCH_ALERT_WEBHOOK_URL: 'https://h.example.com/', IPWATCH_ALERT_WEBHOOK_SECRET: SECRET }).join('\n'), /must be low, medium, high or critical/);
});

test('the report time and zone are checked; every alert variable is documented', () => {
  assert.deepEqual(loadConfig({ IPWATCH_REPORT_TIME: '18:30', IPWATCH_REPORT_TZ: 'Europe/Paris' }, '/tmp').alerts.report, { time: '18:30', timeZone: 'Europe/Paris' });
  assert.equal(loadConfig({ IPWATCH_REPORT_TIME: 'off' }, '/tmp').alerts.report.time, null);
  assert.match(problems({ IPWATCH_REPORT_TIME: '7am' }).join('\n'), /IPWATCH_REPORT_TIME="7am" must be a local time HH:MM/);
  assert.match(problems({ IPWATCH_REPORT_TZ: 'Mars/Olympus' }).join('\n'), /IPWATCH_REPORT_TZ="Mars\/Olympus" is not a time zone/);
  for (const name of ['IPWATCH_SMTP_HOST', 'IPWATCH_SMTP_PASSWORD', 'IPWATCH_ALERT_WEBHOOK_SECRET', 'IPWATCH_REPORT_TZ', 'IPWATCH_ALERT_QUIET_MINUTES']) assert.ok(name in CONFIG_VARIABLES, name);
});
