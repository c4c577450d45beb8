/**
 * Alerts end to end on real components: a scanner's requests through an Express app with the
 * emitter -> Kafka -> enricher -> scorer -> detections topic -> two alerter instances (two
 * consumer groups, so each reads every detection; one ledger in the real Redis) -> a real SMTP
 * server and a real webhook receiver on loopback. The attack makes exactly one email (parsed
 * back) and one webhook whose signature the receiver verifies, whatever the number of
 * alerters.
 */
import { afterAll, beforeAll, describe, jest, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@ipwatch/core/config';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { startAlerterService, type AlerterService } from '@ipwatch/alerter';
import { addressPlan, scan, SENSITIVE_PATHS, eventually } from './support/attackTraffic.ts';
import { startDetectionRig, type DetectionRig } from './support/detectionRig.ts';
import { startSmtpSink, type SmtpSink } from './support/smtpSink.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhookReceiver.ts';
import { kafkaBrokers, uniqueName } from './support/components.ts';
import { tempDir } from './support/cli.ts';

const SECRET = 'e2e-alerts-secret-0123456789abcdef0123';
const plan = addressPlan();

describe('alerts end to end (emitter, Kafka, scorer, two alerters, Redis, SMTP, webhook)', () => {
  jest.setTimeout(60_000);
  let rig: DetectionRig;
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  const alerters: AlerterService[] = [];
  const alerterMetrics: Array<ReturnType<typeof createMetrics>> = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    rig = await startDetectionRig();
    await rig.resetRules('sensitive-files');
    smtp = await startSmtpSink();
    hook = await startWebhookReceiver(SECRET);
    const config = loadConfig(
      {
        IPWATCH_KAFKA_BROKERS: kafkaBrokers().join(','),
        IPWATCH_REDIS_URL: 'redis://127.0.0.1:6379',
        IPWATCH_SMTP_HOST: '127.0.0.1',
        IPWATCH_SMTP_PORT: String(smtp.port),
        IPWATCH_SMTP_TLS: 'none',
        IPWATCH_ALERT_EMAIL_FROM: 'ipwatch <ipwatch@example.test>',
        IPWATCH_ALERT_EMAIL_TO: 'oncall@example.test,security@example.test',
        IPWATCH_ALERT_WEBHOOK_URL: hook.url,
        IPWATCH_ALERT_WEBHOOK_SECRET: SECRET,
        // Detections other test files left on the shared broker are read too: no digest here.
        IPWATCH_ALERT_MAX_PER_MINUTE: '1000',
        IPWATCH_ALERT_GATHER_MS: '500',
        IPWATCH_DASHBOARD_URL: 'https://ipwatch.example.test',
        IPWATCH_REPORT_TIME: 'off',
      },
      tempDir('ipwatch-alerts'),
    );
    const ledgerPrefix = `ipwatch-test:${randomUUID()}:`;
    for (const name of ['a', 'b']) {
      const metrics = createMetrics('alerter');
      alerterMetrics.push(metrics);
      const ctx = { config, log: rig.log, health: createHealth(), metrics: () => metrics, warn: (m: string) => void warnings.push(m) };
      alerters.push(await startAlerterService(ctx, metrics, { groupId: uniqueName(`e2e-alerter-${name}`), ledgerPrefix }));
    }
  });

  afterAll(async () => {
    for (const a of alerters) await a.stop();
    await smtp?.close();
    await hook?.close();
    await rig?.close();
  });

  test('a scanner blocked by sensitive-files: one email with the client, rule and evidence, one verified webhook; two alerters, sent once', async () => {
    const ip = plan.v4();
    await scan(rig.port, ip, SENSITIVE_PATHS.slice(0, 3));
    const d = await rig.detection((x) => x.client === ip && x.rule === 'sensitive-files');
    await rig.refused(ip);

    const about = (text: string) => smtp.mails.filter((m) => (m.text ?? '').includes(text) && (m.subject ?? '').includes('sensitive-files'));
    await eventually('the email', () => about(ip).length >= 1, 20_000);
    await eventually('the webhook', () => hook.deliveries.some((x) => x.body.id === d.id), 20_000);
    // Both alerters have read the detection by now; give a second send every chance to happen.
    await new Promise((r) => setTimeout(r, 2000));

    const mails = about(ip);
    assert.equal(mails.length, 1, `one email for ${ip}: ${mails.map((m) => m.subject).join(' | ')}`);
    const mail = mails[0]!;
    assert.match(mail.subject ?? '', new RegExp(ip.replace(/\./g, '\\.')));
    assert.deepEqual(smtp.envelopes[smtp.mails.indexOf(mail)], ['oncall@example.test', 'security@example.test']);
    const text = mail.text ?? '';
    for (const needed of ['sensitive-files', 'high', d.evidence.summary!, `https://ipwatch.example.test/clients/${ip}`]) {
      assert.ok(text.includes(needed), `the mail names ${needed}:\n${text}`);
    }
    assert.ok(SENSITIVE_PATHS.slice(0, 3).some((p) => text.includes(p)), `the mail shows the evidence (a probed path):\n${text}`);
    assert.match(text, /blocked/i);
    assert.ok(String(mail.html).includes(ip), 'an HTML part too');

    const deliveries = hook.deliveries.filter((x) => x.body.id === d.id);
    assert.equal(deliveries.length, 1, 'one webhook for the detection');
    assert.equal(deliveries[0]!.refusedBecause, null, 'its signature verified');
    assert.equal(deliveries[0]!.body.rule, 'sensitive-files');
    assert.equal(deliveries[0]!.body.action, 'blocked');
    assert.ok(hook.deliveries.every((x) => x.refusedBecause === null), 'every delivery verified');

    // Each alerter read it; the ledger let one send (per channel), the other found it sent.
    const counted = async (name: string, labels: string) => {
      let sum = 0;
      for (const m of alerterMetrics) {
        const line = (await m.text()).split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
        sum += line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
      }
      return sum;
    };
    await eventually('the second alerter finding the email sent', async () => (await counted('ipwatch_alerts_suppressed_total', 'reason="already_sent",channel="email"')) >= 1);
    for (const a of alerters) assert.notEqual(a.alerter.health().state, 'error');
    assert.deepEqual(warnings.filter((w) => /gave .* up/.test(w)), []);
  });
});
