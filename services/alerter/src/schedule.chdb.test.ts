/**
 * The daily report's schedule on chDB and a real SMTP server: due at the configured local
 * time in the configured zone, sent once however many alerters check, not before its time.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtpSink.ts';
import { createAlerter } from './alerter.ts';
import { createEmailChannel } from './channels/email.ts';
import { createMemoryLedger } from './ledger.ts';
import { dayBefore, localTime, startReportSchedule } from './schedule.ts';

const SETTINGS = { dashboardUrl: 'https://dash.example.test', quietMs: 0, maxPerMinute: 10, gatherMs: 10, foldMin: 3, retry: { attempts: 2, minMs: 50 } };

test('localTime and dayBefore follow the zone and the calendar', () => {
  assert.deepEqual(localTime(Date.parse('2026-03-29T01:30:00Z'), 'Europe/Paris'), { date: '2026-03-29', time: '03:30' });
  assert.deepEqual(localTime(Date.parse('2026-12-01T03:00:00Z'), 'America/New_York'), { date: '2026-11-30', time: '22:00' });
  assert.equal(dayBefore('2026-03-01'), '2026-02-28');
  assert.equal(dayBefore('2028-03-01'), '2028-02-29');
});

describe('the daily report schedule', () => {
  let smtp: SmtpSink;
  beforeAll(async () => {
    smtp = await startSmtpSink();
  });
  afterAll(() => smtp?.close());

  test('two alerters at 07:05 in Paris: the day before\'s report is sent once; at 06:30 nothing is due', async () => {
    const analytics = await testAnalytics();
    const log = createMemoryEventLog();
    const ledger = createMemoryLedger();
    let now = Date.parse('2026-12-01T05:30:00Z'); // 06:30 in Paris
    const schedules = ['a', 'b'].map((name) => {
      const channel = createEmailChannel({ host: '127.0.0.1', port: smtp.port, tls: 'none', user: null, password: null, from: 'ipwatch@example.test', to: ['ops@example.test'], minSeverity: 'critical' });
      const alerter = createAlerter({ channels: [channel], ledger, metrics: createMetrics('alerter'), log, settings: SETTINGS, warn: () => {}, instanceId: name, now: () => now });
      return startReportSchedule({ time: '07:00', timeZone: 'Europe/Paris', dashboardUrl: SETTINGS.dashboardUrl, analytics, alerter, ledger, warn: () => {}, now: () => now, checkEveryMs: 3_600_000 });
    });
    try {
      assert.deepEqual(await Promise.all(schedules.map((s) => s.check())), [null, null], 'not before 07:00 local');
      now = Date.parse('2026-12-01T06:05:00Z'); // 07:05 in Paris
      const sent = await Promise.all(schedules.map((s) => s.check()));
      assert.deepEqual(sent.filter(Boolean), ['2026-11-30'], `one alerter sends it: ${JSON.stringify(sent)}`);
      assert.deepEqual(await Promise.all(schedules.map((s) => s.check())), [null, null], 'and nobody again');
      const mails = await smtp.waitFor(1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.mails.length, 1);
      assert.match(mails[0]!.subject ?? '', /daily report 2026-11-30/);
      assert.ok(String(mails[0]!.html).includes('<table'), 'an HTML part with tables');
      assert.ok((mails[0]!.text ?? '').length > 100, 'and a text part');
    } finally {
      for (const s of schedules) await s.stop();
      await log.close();
    }
  });
});
