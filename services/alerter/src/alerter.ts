/**
 * The alerter's core: detections and manual blocks in, messages out, without storms.
 *
 * Each consumed batch is decoded into alerts and handed to the outbox, and the batch is
 * committed only once every alert in it was sent, found sent already, kept quiet, or given
 * up to the DLQ. The outbox gathers alerts for `gatherMs` (the consumer hands over several
 * partitions at once), then:
 *  1. keeps quiet: the same client and rule alert once per `quietMs` (the ledger, shared by
 *     every alerter, remembers who alerted);
 *  2. folds an attack from many addresses (one rule, one /24 or /48, or one ASN) into one alert;
 *  3. per channel: drops what is below the channel's severity; above `maxPerMinute`, folds
 *     the rest into one digest, and then sends at most one digest per DIGEST_EVERY_MS;
 *  4. delivers each message once (delivery.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EventLog, LogBatch, LogMessage } from '@ipwatch/core/eventLog';
import { sendToDlq } from '@ipwatch/core/eventLog/dlq';
import type { AlertsConfig } from '@ipwatch/core/config';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { CheckResult } from '@ipwatch/core/observability/health';
import { codecs, type Severity } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { Alert, Channel, Digest, Outgoing } from './alert.ts';
import { atLeast, blockAlert, detectionAlert, fold, higher } from './alerts.ts';
import { deliver, type DeliveryResult } from './delivery.ts';
import type { AlertLedger } from './ledger.ts';
import { renderAlert, renderDigest } from './render.ts';

/** Above the rate, one digest per channel at most this often. */
export const DIGEST_EVERY_MS = 15_000;
/**
 * Detections about requests older than this (a replayed log, an alerter that was down for a
 * day) are not alerted: the daily report and `ipwatch analyze` have them.
 */
export const MAX_AGE_MS = 6 * 3600_000;
/** A channel's failures are shown in health for this long. */
const FAILURE_SHOWN_MS = 3600_000;

export type AlerterSettings = Pick<AlertsConfig, 'dashboardUrl' | 'quietMs' | 'maxPerMinute' | 'gatherMs' | 'foldMin' | 'retry'>;

export interface AlerterOptions {
  channels: Channel[];
  ledger: AlertLedger;
  metrics: IpwatchMetrics;
  /** The event log: the DLQ for what cannot be decoded or sent. */
  log: EventLog;
  settings: AlerterSettings;
  warn(message: string, err?: unknown): void;
  now?: () => number;
  /** This process, as the ledger's lease owner (default: a random id). */
  instanceId?: string;
}

export interface Alerter {
  /** The consumer's batch handler: resolves once every alert of the batch is done with. */
  handle(batch: LogBatch): Promise<void>;
  /** Sends `message` through every channel (or those named), whatever their severity: the daily report, a test. */
  broadcast(message: Outgoing, type: 'report' | 'test', only?: readonly Channel[]): Promise<Array<{ channel: Channel; result: DeliveryResult }>>;
  health(): CheckResult;
  /** Ends waits and retries: handle() calls in progress reject (their batches are not committed). */
  abort(): void;
  readonly instanceId: string;
}

/** What a batch in hand fails with when the alerter stops: it is not committed, and is read again. */
export class AlerterStopped extends Error {
  override readonly name = 'AlerterStopped';
  constructor() {
    super('the alerter stopped before these alerts were sent; they are read again at the next start');
  }
}

interface Pending {
  alert: Alert;
  done: { resolve(): void; reject(err: unknown): void };
}

export function createAlerter(options: AlerterOptions): Alerter {
  const { channels, ledger, metrics, log, settings, warn } = options;
  const now = options.now ?? Date.now;
  const instanceId = options.instanceId ?? randomUUID();
  const stopping = new AbortController();

  const sent = metrics.counter({ name: 'ipwatch_alerts_sent_total', help: 'Messages sent, by channel and type (alert, digest, report, test).', labelNames: ['channel', 'type'] as const });
  const suppressed = metrics.counter({
    name: 'ipwatch_alerts_suppressed_total',
    help: 'Alerts not sent as such, by reason (quiet: same client and rule within the quiet period; below_severity: under the channel\'s threshold; already_sent: sent before a restart or by another alerter; stale: read too late) and channel ("all" when before any channel).',
    labelNames: ['reason', 'channel'] as const,
  });
  const folded = metrics.counter({ name: 'ipwatch_alerts_folded_total', help: 'Alerts folded into another message: by network or ASN (an attack from many addresses), or into a digest (above the rate).', labelNames: ['into'] as const });
  const attemptFailures = metrics.counter({ name: 'ipwatch_alert_send_failures_total', help: 'Failed attempts to send, by channel (each is retried with back-off, or given up).', labelNames: ['channel'] as const });
  const givenUp = metrics.counter({ name: 'ipwatch_alerts_given_up_total', help: 'Messages given up to the DLQ, by channel.', labelNames: ['channel'] as const });
  let pendingCount = 0;
  metrics.gauge({ name: 'ipwatch_alerts_pending', help: 'Alerts read and not yet sent (gathering, or retrying a channel that is down).', collect: (g) => g.set(pendingCount) });

  const recentSends = new Map<string, number[]>();
  const lastDigestAt = new Map<string, number>();
  const failing = new Map<string, { since: number; error: string }>();
  const gaveUp = new Map<string, { count: number; at: number; error: string }>();

  const deliveryOptions = {
    ledger,
    owner: instanceId,
    log,
    retry: settings.retry,
    signal: stopping.signal,
    now,
    onAttemptFailed(channel: Channel, error: Error) {
      attemptFailures.inc({ channel: channel.name });
      if (!failing.has(channel.name)) failing.set(channel.name, { since: now(), error: error.message });
      warn(`alerter: ${error.message}`);
    },
  };

  async function send(channel: Channel, message: Outgoing, type: 'alert' | 'digest' | 'report' | 'test'): Promise<DeliveryResult> {
    const result = await deliver(channel, message, deliveryOptions);
    if (result.outcome === 'sent') {
      failing.delete(channel.name);
      sent.inc({ channel: channel.name, type });
      const times = recentSends.get(channel.name) ?? [];
      times.push(now());
      recentSends.set(channel.name, times);
    } else if (result.outcome === 'already_sent') {
      suppressed.inc({ reason: 'already_sent', channel: channel.name });
    } else {
      failing.delete(channel.name);
      givenUp.inc({ channel: channel.name });
      const g = gaveUp.get(channel.name);
      gaveUp.set(channel.name, { count: (g?.count ?? 0) + 1, at: now(), error: result.error.message });
      warn(`alerter: gave ${message.id} up after ${result.attempts} attempt(s), to the DLQ: ${result.error.message}`);
    }
    return result;
  }

  /** Sends this channel's share of one flush: alerts while under the rate, then one digest. */
  async function sendToChannel(channel: Channel, groups: Array<{ alert: Alert; members: Alert[] }>): Promise<void> {
    const eligible = groups.filter((g) => {
      const ok = atLeast(g.alert.severity, channel.minSeverity);
      if (!ok) suppressed.inc({ reason: 'below_severity', channel: channel.name }, g.members.length);
      return ok;
    });
    if (eligible.length === 0) return;
    const at = now();
    const times = (recentSends.get(channel.name) ?? []).filter((t) => t > at - 60_000);
    recentSends.set(channel.name, times);
    const budget = Math.max(0, settings.maxPerMinute - times.length);
    const single = eligible.length <= budget ? eligible : eligible.slice(0, Math.max(0, budget - 1));
    const rest = eligible.slice(single.length);
    if (rest.length === 1) single.push(...rest.splice(0));
    for (const g of single) await send(channel, { id: g.alert.id, severity: g.alert.severity, rendered: renderAlert(g.alert) }, 'alert');
    if (rest.length === 0) return;
    // Above the rate: one digest now and then, holding the rest (their batches wait) until it is due.
    const due = (lastDigestAt.get(channel.name) ?? 0) + DIGEST_EVERY_MS;
    if (due > now()) await sleepUnlessStopped(due - now());
    const alerts = rest.map((g) => g.alert);
    const digest: Digest = {
      id: `digest:${createHash('sha256').update(alerts.map((a) => a.id).sort().join(',')).digest('hex').slice(0, 32)}`,
      ts: now(),
      severity: alerts.reduce<Severity>((s, a) => higher(s, a.severity), 'low'),
      alerts,
      limit: `${settings.maxPerMinute} alert${settings.maxPerMinute === 1 ? '' : 's'} a minute`,
      url: settings.dashboardUrl,
    };
    folded.inc({ into: 'digest' }, alerts.length);
    lastDigestAt.set(channel.name, now());
    await send(channel, { id: digest.id, severity: digest.severity, rendered: renderDigest(digest) }, 'digest');
  }

  function sleepUnlessStopped(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      }
      stopping.signal.addEventListener('abort', done, { once: true });
    });
  }

  let pending: Pending[] = [];
  let flushTimer: NodeJS.Timeout | null = null;

  async function flush(): Promise<void> {
    flushTimer = null;
    const items = pending;
    pending = [];
    try {
      const kept: Alert[] = [];
      for (const { alert } of items) {
        const quiet = await Promise.all(alert.subjects.map((s) => ledger.quiet(`${alert.rule}|${s.client}`, alert.id, settings.quietMs)));
        if (quiet.every(Boolean)) kept.push(alert);
        else suppressed.inc({ reason: 'quiet', channel: 'all' });
      }
      const groups = fold(kept, settings.foldMin);
      for (const g of groups) if (g.members.length > 1) folded.inc({ into: g.alert.foldedBy!.by }, g.members.length);
      await Promise.all(channels.map((c) => sendToChannel(c, groups)));
      if (stopping.signal.aborted) throw new AlerterStopped();
      for (const p of items) p.done.resolve();
    } catch (err) {
      for (const p of items) p.done.reject(err);
    } finally {
      pendingCount -= items.length;
    }
  }

  function submit(alerts: Alert[]): Promise<void> {
    if (alerts.length === 0) return Promise.resolve();
    const all = alerts.map(
      (alert) =>
        new Promise<void>((resolve, reject) => {
          pending.push({ alert, done: { resolve, reject } });
        }),
    );
    pendingCount += alerts.length;
    flushTimer ??= setTimeout(() => void flush(), settings.gatherMs);
    return Promise.all(all).then(() => undefined);
  }

  /** The alert a message asks for, null when it asks for none (a tombstone, the scorer's own block, an old one). */
  async function alertOf(m: LogMessage): Promise<Alert | null> {
    if (m.value === null) return null;
    let alert: Alert | null = null;
    try {
      if (m.topic === TOPICS.detections) alert = detectionAlert(codecs.Detection.decode(m.value), settings.dashboardUrl);
      else if (m.topic === TOPICS.blocks) {
        const b = codecs.BlockDecision.decode(m.value);
        // The scorer's blocks are alerted through the detection that made each one.
        if (b.createdBy !== 'scorer') alert = blockAlert(m.key ?? b.target, b, settings.dashboardUrl);
      }
    } catch (err) {
      await sendToDlq(log, m, err);
      warn(`alerter: an undecodable record on ${m.topic} (partition ${m.partition}, offset ${m.offset}) went to the DLQ`, err);
      return null;
    }
    // By the time of the request that crossed the threshold: a replayed old log makes no alerts.
    if (alert !== null && now() - alert.ts > MAX_AGE_MS) {
      suppressed.inc({ reason: 'stale', channel: 'all' });
      return null;
    }
    return alert;
  }

  return {
    instanceId,
    async handle(batch) {
      const alerts: Alert[] = [];
      for (const m of batch.messages) {
        const a = await alertOf(m);
        if (a !== null) alerts.push(a);
      }
      await submit(alerts);
    },
    async broadcast(message, type, only = channels) {
      return Promise.all(only.map(async (channel) => ({ channel, result: await send(channel, message, type) })));
    },
    health() {
      const at = now();
      const problems: string[] = [];
      for (const [name, f] of failing) problems.push(`${name} failing since ${new Date(f.since).toISOString()} (retrying): ${f.error}`);
      for (const [name, g] of gaveUp) {
        if (at - g.at < FAILURE_SHOWN_MS) problems.push(`${name}: ${g.count} message(s) given up to the DLQ, the last at ${new Date(g.at).toISOString()}: ${g.error}`);
      }
      // Running without channels is a choice (the dashboard and the report still show everything), not a fault.
      if (channels.length === 0) return { state: 'ok', detail: 'no channel configured, so no alert is sent: set IPWATCH_SMTP_HOST, IPWATCH_ALERT_WEBHOOK_URL or IPWATCH_ALERT_SLACK_URL' };
      if (problems.length) return { state: 'degraded', detail: problems.join('; ') };
      return { state: 'ok', detail: `${channels.map((c) => c.describe).join(', ')}; ${pendingCount} pending` };
    },
    abort() {
      stopping.abort();
      // What is still gathering is not sent: its batches are not committed, and are read again.
      if (flushTimer !== null) clearTimeout(flushTimer);
      flushTimer = null;
      const items = pending;
      pending = [];
      pendingCount -= items.length;
      for (const p of items) p.done.reject(new AlerterStopped());
    },
  };
}
