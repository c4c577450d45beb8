/** `ipwatch alerts test` as a user runs it, against a real SMTP server and webhook receiver on loopback. */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { runCli } from '../../../../test/support/cli.ts';
import { startSmtpSink, type SmtpSink } from '../../../../test/support/smtpSink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../../test/support/webhookReceiver.ts';

const SECRET = 'cli-alerts-test-secret-0123456789abcdef';

describe('ipwatch alerts test', () => {
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    hook = await startWebhookReceiver(SECRET);
  });
  afterAll(async () => {
    await smtp?.close();
    await hook?.close();
  });
  const env = () => ({
    IPWATCH_SMTP_HOST: '127.0.0.1', IPWATCH_SMTP_PORT: String(smtp.port), IPWATCH_SMTP_TLS: 'none',
    IPWATCH_ALERT_EMAIL_FROM: 'ipwatch@example.test', IPWATCH_ALERT_EMAIL_TO: 'ops@example.test',
    IPWATCH_ALERT_WEBHOOK_URL: hook.url, IPWATCH_ALERT_WEBHOOK_SECRET: SECRET,
  });

  test('sends through every configured channel and says which worked; names what is not configured', async () => {
    const r = await runCli(['alerts', 'test'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^email: sent to smtp:\/\/127\.0\.0\.1:\d+ -> ops@example\.test$/m);
    assert.match(r.stdout, /^webhook: sent to /m);
    assert.match(r.stdout, /^slack: not configured \(set IPWATCH_ALERT_SLACK_URL\)$/m);
    const [mail] = await smtp.waitFor(1);
    assert.match(mail!.subject ?? '', /test/i);
    const [delivery] = await hook.waitFor(1);
    assert.equal(delivery!.refusedBecause, null);
    assert.equal(delivery!.body.type, 'test');
  });

  test('a channel that fails says why, and the exit code is 1; --channel picks one', async () => {
    hook.failWith = 503;
    try {
      const r = await runCli(['alerts', 'test'], env());
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^email: sent/m);
      assert.match(r.stdout, /^webhook: FAILED: .*503/m);
      const only = await runCli(['alerts', 'test', '--channel', 'email'], env());
      assert.equal(only.code, 0);
      assert.doesNotMatch(only.stdout, /webhook/);
    } finally {
      hook.failWith = null;
    }
    const closed = await runCli(['alerts', 'test', '--channel', 'email'], { ...env(), IPWATCH_SMTP_PORT: '1' });
    assert.equal(closed.code, 1);
    assert.match(closed.stdout, /^email: FAILED/m);
  });

  test('nothing configured, a wrong channel, a bad variable: clear refusals', async () => {
    const none = await runCli(['alerts', 'test'], {});
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no alert channel is configured: email: set IPWATCH_SMTP_HOST/);
    const wrong = await runCli(['alerts', 'test', '--channel', 'pager'], env());
    assert.match(wrong.stderr, /--channel "pager" is not a channel: email, webhook or slack/);
    const bad = await runCli(['alerts', 'test'], { ...env(), IPWATCH_ALERT_WEBHOOK_SECRET: '' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /IPWATCH_ALERT_WEBHOOK_SECRET is missing/);
  });
});
