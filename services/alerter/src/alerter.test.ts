/**
 * The alerter's behaviour on the in-process event log, sending to a real SMTP server and a
 * real HTTP receiver on loopback: one alert once, quiet periods, an attack from one network
 * folded, a flood made a digest, a refusing SMTP server retried until it accepts, a refused
 * webhook given up to the DLQ and shown in health, and a second alerter on the same ledger
 * sending nothing again.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog, LogMessage } from '@ipwatch/core/eventLog';
import { DLQ_HEADERS } from '@ipwatch/core/eventLog/dlq';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics, type IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { codecs, type BlockDecision, type Detection, type Severity } from '@ipwatch/core/schemas';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtpSink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhookReceiver.ts';
import { tempDir } from '../../../test/support/cli.ts';
import { createMemoryLedger, type AlertLedger } from './ledger.ts';
import { startAlerterService, type AlerterService } from './main.ts';

const SECRET = 'alerter-test-secret-0123456789abcdef';
const HOSTILE_PATH = '/search?q=<script>alert(1)</script>';
const HOSTILE_UA = '<!channel> <@U123> <http://evil.example|click>';

/** A detection as the scorer writes it, at `ts` (default now). */
function detection(ip: string, over: Partial<Detection> = {}, evidence: Record<string, string> = {}): Detection {
  const ts = over.ts ?? Date.now();
  return {
    id: `t-${randomUUID()}`,
    ts,
    ip,
    rule: 'sensitive-files',
    severity: 'high',
    score: 3,
    windowStart: ts - 600_000,
    windowEnd: ts,
    evidence: { summary: 'matching requests: 2 in 10m (more than 1)', trigger: `GET ${HOSTILE_PATH} -> 404`, samples: `10:00:00 GET /.env -> 404\n10:00:01 GET ${HOSTILE_PATH} -> 404`, userAgents: HOSTILE_UA, country: 'FR', ...evidence },
    action: 'block',
    client: ip,
    mode: 'live',
    count: 2,
    threshold: 1,
    blockExpiresAt: ts + 3600_000,
    offence: 1,
    ...over,
  };
}

async function publish(log: EventLog, ...ds: Detection[]): Promise<void> {
  await log.produce(TOPICS.detections, ds.map((d) => ({ key: d.ip, value: codecs.Detection.encode(d) })));
}

async function eventually(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not so after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What an alerter sent: nothing more arrives for `ms`. */
const settle = (ms = 600) => new Promise((r) => setTimeout(r, ms));

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('alerter (in-process log, real SMTP server and webhook receiver on loopback)', () => {
  let log: EventLog;
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  const warnings: string[] = [];

  beforeAll(async () => {
    log = createMemoryEventLog({ partitions: 4 });
    await log.ensureTopics(topicSpecs(4));
    smtp = await startSmtpSink();
    hook = await startWebhookReceiver(SECRET);
  });
  afterAll(async () => {
    await smtp?.close();
    await hook?.close();
    await log?.close();
  });

  interface Running {
    service: AlerterService;
    metrics: IpwatchMetrics;
    ledger: AlertLedger;
    stop(): Promise<void>;
  }

  /** An alerter reading the topics from now on (its own group, its own or a given ledger). */
  async function startAlerter(env: Record<string, string> = {}, ledger: AlertLedger = createMemoryLedger()): Promise<Running> {
    const config = loadConfig(
      {
        IPWATCH_SMTP_HOST: '127.0.0.1',
        IPWATCH_SMTP_PORT: String(smtp.port),
        IPWATCH_SMTP_TLS: 'none',
        IPWATCH_ALERT_EMAIL_FROM: 'ipwatch <ipwatch@example.test>',
        IPWATCH_ALERT_EMAIL_TO: 'ops@example.test',
        IPWATCH_ALERT_WEBHOOK_URL: hook.url,
        IPWATCH_ALERT_WEBHOOK_SECRET: SECRET,
        IPWATCH_ALERT_GATHER_MS: '300',
        IPWATCH_ALERT_RETRY_MIN_MS: '100',
        IPWATCH_DASHBOARD_URL: 'https://dash.example.test',
        IPWATCH_REPORT_TIME: 'off',
        ...env,
      },
      tempDir('ipwatch-alerter'),
    );
    const metrics = createMetrics('alerter');
    const ctx = { config, log, health: createHealth(), metrics: () => metrics, warn: (m: string) => void warnings.push(m) };
    // Read from the end: earlier tests' detections are not this alerter's business.
    const groupId = `alerter-test-${randomUUID()}`;
    const service = await startAlerterService(ctx, metrics, { ledger, groupId, fromBeginning: false });
    return { service, metrics, ledger, stop: () => service.stop() };
  }

  const mailsAbout = (text: string) => smtp.mails.filter((m) => (m.text ?? '').includes(text));
  const hooksAbout = (text: string) => hook.deliveries.filter((d) => d.raw.includes(text));

  test('a detection makes one email (text and escaped HTML) and one signed webhook with the evidence as data; read again, nothing more', async () => {
    const a = await startAlerter();
    try {
      const d = detection('203.0.113.7');
      await publish(log, d);
      await eventually('the mail and the webhook', () => mailsAbout('203.0.113.7').length === 1 && hooksAbout('203.0.113.7').length === 1);
      const [mail] = mailsAbout('203.0.113.7');
      assert.match(mail!.subject ?? '', /sensitive-files/);
      assert.match(mail!.subject ?? '', /203\.0\.113\.7/);
      for (const needed of ['203.0.113.0/24', 'FR', 'sensitive-files', 'high', 'https://dash.example.test/clients/203.0.113.7', HOSTILE_PATH]) {
        assert.ok(mail!.text!.includes(needed), `the text part names ${needed}:\n${mail!.text}`);
      }
      const html = String(mail!.html);
      assert.ok(!html.includes('<script>alert(1)</script>'), 'evidence is never markup');
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'evidence is shown, escaped');
      assert.ok(!/<script/i.test(html));
      assert.equal(String(mail!.messageId), `<${d.id}@ipwatch>`);

      const [delivery] = hooksAbout('203.0.113.7');
      assert.equal(delivery!.refusedBecause, null, 'the receiver verified the signature');
      assert.equal(delivery!.body.type, 'alert');
      assert.equal(delivery!.body.id, d.id);
      assert.equal((delivery!.body.evidence as Record<string, string>).userAgents, HOSTILE_UA, 'plain data in JSON');
      assert.equal(delivery!.headers['x-ipwatch-delivery'], d.id);

      // The same detection read again (at-least-once upstream), and another one of the same
      // client and rule within the quiet period: nothing more.
      await publish(log, d, detection('203.0.113.7', { ts: Date.now() + 1 }));
      await settle();
      assert.equal(mailsAbout('203.0.113.7').length, 1);
      assert.equal(hooksAbout('203.0.113.7').length, 1);
      const text = await a.metrics.text();
      assert.equal(metricValue(text, 'ipwatch_alerts_sent_total', { channel: 'email', type: 'alert' }), 1);
      // The same alert again passes its own quiet period, and is found sent; the other is kept quiet.
      assert.equal(metricValue(text, 'ipwatch_alerts_suppressed_total', { reason: 'already_sent', channel: 'email' }), 1);
      assert.equal(metricValue(text, 'ipwatch_alerts_suppressed_total', { reason: 'already_sent', channel: 'webhook' }), 1);
      assert.equal(metricValue(text, 'ipwatch_alerts_suppressed_total', { reason: 'quiet' }), 1);
    } finally {
      await a.stop();
    }
  });

  test('the severity threshold is per channel; a manual block alerts, the scorer\'s own block does not (its detection does)', async () => {
    const a = await startAlerter({ IPWATCH_ALERT_EMAIL_MIN_SEVERITY: 'critical', IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'low' });
    try {
      await publish(log, detection('192.0.2.55', { severity: 'medium' as Severity }));
      const manual: BlockDecision = { target: '192.0.2.0/28', reason: 'seen in our honeypot', source: 'manual', severity: 'critical', createdAt: Date.now(), expiresAt: null, createdBy: 'alice' };
      const byScorer: BlockDecision = { ...manual, target: '192.0.2.99', createdBy: 'scorer', source: 'burst', reason: 'burst: ...' };
      await log.produce(TOPICS.blocks, [
        { key: manual.target, value: codecs.BlockDecision.encode(manual) },
        { key: byScorer.target, value: codecs.BlockDecision.encode(byScorer) },
      ]);
      await eventually('the webhooks', () => hooksAbout('192.0.2.55').length === 1 && hooksAbout('192.0.2.0/28').length === 1);
      await eventually('the critical block by mail', () => mailsAbout('192.0.2.0/28').length === 1);
      await settle();
      assert.equal(mailsAbout('192.0.2.55').length, 0, 'medium is below the email threshold');
      assert.equal(hooksAbout('192.0.2.99').length + mailsAbout('192.0.2.99').length, 0);
      assert.ok(mailsAbout('192.0.2.0/28')[0]!.text!.includes('seen in our honeypot'));
      assert.ok(mailsAbout('192.0.2.0/28')[0]!.text!.includes('alice'));
    } finally {
      await a.stop();
      await log.produce(TOPICS.blocks, [{ key: '192.0.2.0/28', value: null }]);
    }
  });

  test('an attack from 30 addresses of one /24 is one alert that lists them all', async () => {
    const a = await startAlerter();
    try {
      const ips = Array.from({ length: 30 }, (_, i) => `198.51.100.${i + 1}`);
      await publish(log, ...ips.map((ip) => detection(ip)));
      await eventually('one mail', () => mailsAbout('198.51.100.0/24').length >= 1);
      await settle();
      const mails = mailsAbout('198.51.100.');
      assert.equal(mails.length, 1, mails.map((m) => m.subject).join('\n'));
      for (const ip of ips.slice(0, 30)) assert.ok(mails[0]!.text!.includes(ip), `lists ${ip}`);
      const hooks = hooksAbout('198.51.100.');
      assert.equal(hooks.length, 1);
      assert.equal((hooks[0]!.body.subjects as unknown[]).length, 30);
      assert.deepEqual(hooks[0]!.body.foldedBy, { by: 'network', value: '198.51.100.0/24' });
      assert.equal(metricValue(await a.metrics.text(), 'ipwatch_alerts_folded_total', { into: 'network' }), 30);
    } finally {
      await a.stop();
    }
  });

  test('a flood above the rate becomes a digest that says how many it folds, not a storm', async () => {
    const a = await startAlerter({ IPWATCH_ALERT_MAX_PER_MINUTE: '5', IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'critical' });
    const before = smtp.mails.length;
    try {
      // 60 clients of 60 networks: nothing folds by network, nor by ASN (none known).
      const flood = Array.from({ length: 60 }, (_, i) => detection(`100.${64 + i}.7.9`, { rule: 'burst' }));
      await publish(log, ...flood);
      await eventually('the digest', () => smtp.mails.slice(before).some((m) => /digest/i.test(m.subject ?? '')));
      await settle();
      const mails = smtp.mails.slice(before);
      assert.equal(mails.length, 5, mails.map((m) => m.subject).join('\n'));
      const digest = mails.find((m) => /digest/i.test(m.subject ?? ''))!;
      assert.match(digest.subject ?? '', /\b56\b/, 'the digest says how many alerts it folds');
      assert.equal(metricValue(await a.metrics.text(), 'ipwatch_alerts_folded_total', { into: 'digest' }), 56);
    } finally {
      await a.stop();
    }
  });

  test('an SMTP server refusing for a while (451), then accepting: the alert arrives once', async () => {
    const a = await startAlerter({ IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'critical' });
    try {
      smtp.refusing = true;
      const refusedBefore = smtp.refused;
      await publish(log, detection('203.0.113.200'));
      await eventually('three refusals', () => smtp.refused >= refusedBefore + 3);
      assert.equal(a.service.alerter.health().state, 'degraded');
      assert.match(a.service.alerter.health().detail ?? '', /email failing since/);
      smtp.refusing = false;
      await eventually('the mail', () => mailsAbout('203.0.113.200').length >= 1, 15_000);
      await settle();
      assert.equal(mailsAbout('203.0.113.200').length, 1);
      assert.equal(a.service.alerter.health().state, 'ok');
      const text = await a.metrics.text();
      assert.ok(metricValue(text, 'ipwatch_alert_send_failures_total', { channel: 'email' }) >= 3);
      assert.equal(metricValue(text, 'ipwatch_alerts_given_up_total', { channel: 'email' }), 0);
    } finally {
      smtp.refusing = false;
      await a.stop();
    }
  });

  test('a webhook that refuses for good (400) is given up at once: to the DLQ with the error, and in health', async () => {
    const dlq: LogMessage[] = [];
    const reader = await log.consume({ groupId: `dlq-${randomUUID()}`, topics: [TOPICS.dlq], fromBeginning: false, handle: async (b) => void dlq.push(...b.messages) });
    const a = await startAlerter({ IPWATCH_ALERT_EMAIL_MIN_SEVERITY: 'critical' });
    try {
      hook.failWith = 400;
      const d = detection('203.0.113.201');
      await publish(log, d);
      await eventually('the DLQ record', () => dlq.some((m) => m.key === d.id));
      const record = dlq.find((m) => m.key === d.id)!;
      assert.equal(record.headers['ipwatch-alert-channel'], 'webhook');
      assert.match(record.headers[DLQ_HEADERS.error] ?? '', /400/);
      assert.equal(JSON.parse(record.value!.toString()).id, d.id, 'the payload is kept');
      const health = a.service.alerter.health();
      assert.equal(health.state, 'degraded');
      assert.match(health.detail ?? '', /webhook: 1 message\(s\) given up to the DLQ/);
    } finally {
      hook.failWith = null;
      await a.stop();
      await reader.stop();
    }
  });

  test('a second alerter reading the same detections on the same ledger (a restart, another instance) sends nothing again', async () => {
    const ledger = createMemoryLedger();
    const first = await startAlerter({}, ledger);
    const second = await startAlerter({}, ledger);
    try {
      const ds = ['203.0.113.210', '203.0.113.211'].map((ip, i) => detection(ip, { rule: i ? 'burst' : 'sensitive-files' }));
      await publish(log, ...ds);
      await eventually('both mails', () => mailsAbout('203.0.113.210').length >= 1 && mailsAbout('203.0.113.211').length >= 1);
      await settle(1500);
      assert.equal(mailsAbout('203.0.113.210').length, 1);
      assert.equal(mailsAbout('203.0.113.211').length, 1);
      assert.equal(hooksAbout('203.0.113.210').length, 1);
      assert.equal(hooksAbout('203.0.113.211').length, 1);
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  test('an alerter stopped while a channel is down commits nothing unsent: the next one sends it', async () => {
    const ledger = createMemoryLedger();
    const config = { IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'critical' };
    const groupId = `alerter-restart-${randomUUID()}`;
    smtp.refusing = true;
    const metrics = createMetrics('alerter');
    const env = loadConfig(
      {
        IPWATCH_SMTP_HOST: '127.0.0.1', IPWATCH_SMTP_PORT: String(smtp.port), IPWATCH_SMTP_TLS: 'none', IPWATCH_ALERT_EMAIL_FROM: 'ipwatch@example.test', IPWATCH_ALERT_EMAIL_TO: 'ops@example.test',
        IPWATCH_ALERT_GATHER_MS: '200', IPWATCH_ALERT_RETRY_MIN_MS: '100', IPWATCH_REPORT_TIME: 'off', ...config,
      },
      tempDir('ipwatch-alerter'),
    );
    const ctx = { config: env, log, health: createHealth(), metrics: () => metrics, warn: (m: string) => void warnings.push(m) };
    const first = await startAlerterService(ctx, metrics, { ledger, groupId, fromBeginning: false });
    try {
      const refusedBefore = smtp.refused;
      await publish(log, detection('203.0.113.220'));
      await eventually('a refusal', () => smtp.refused > refusedBefore);
    } finally {
      await first.stop();
    }
    smtp.refusing = false;
    const second = await startAlerterService(ctx, createMetrics('alerter'), { ledger, groupId });
    try {
      await eventually('the mail, sent by the next alerter', () => mailsAbout('203.0.113.220').length >= 1);
      await settle();
      assert.equal(mailsAbout('203.0.113.220').length, 1);
    } finally {
      await second.stop();
    }
  });
});
