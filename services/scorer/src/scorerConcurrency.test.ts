/**
 * The scorer service as several instances share it, on the in-process event log (Kafka's
 * partitions and consumer groups): an account attacked from clients on every partition is
 * counted whole by the one instance owning the account (failed logins are re-keyed by username
 * onto the logins topic); and a crawler claim checked by a slow DNS server holds back only its
 * own detection, not the scoring of the rest of the stream.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog, LogMessage } from '@ipwatch/core/eventLog';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { codecs, SCHEMA_HEADER, type Detection, type EnrichedRequest, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { createScorer, type Scorer } from './scorer.ts';
import { createCrawlerVerifier } from './crawlers.ts';

const GOOGLEBOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

function enriched(ip: string, ts: number, over: Partial<RequestEvent> = {}): EnrichedRequest {
  return {
    request: {
      id: `${ip}-${ts}-${over.path ?? ''}`, ts, ip, ipAnonymisation: 'off', app: 'shop', instance: 'i', method: 'GET', host: 'shop.example', path: '/',
      status: 200, latencyMs: 3, bytes: 100, userAgent: 'Browser/1.0', referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false,
      login: 'none', loginUser: null, network: null, ...over,
    },
    geo: { country: 'DE', region: '', city: '', latitude: null, longitude: null, asn: 3320, org: 'Deutsche Telekom AG', source: 'offline' },
    enrichedAt: ts,
  };
}

const message = (e: EnrichedRequest) => ({ key: e.request.ip, value: codecs.EnrichedRequest.encode(e), headers: { [SCHEMA_HEADER]: 'EnrichedRequest' } });

async function collectDetections(log: EventLog) {
  const found: Array<{ d: Detection; at: number }> = [];
  const reader = await log.consume({
    groupId: 'test-read',
    topics: [TOPICS.detections],
    handle: async (b) => void found.push(...b.messages.map((m: LogMessage) => ({ d: codecs.Detection.decode(m.value!), at: Date.now() }))),
  });
  return { found, stop: () => reader.stop() };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('two scorer instances: failed logins on one account from clients on every partition are counted together, detected once by account-attack', async () => {
  const log = createMemoryEventLog();
  await log.ensureTopics(topicSpecs(4));
  const metrics = createMetrics('scorer');
  const scorers: Scorer[] = [createScorer({ log, metrics, warn: () => {}, warmupMs: 0 }), createScorer({ log, metrics: createMetrics('scorer'), warn: () => {}, warmupMs: 0 })];
  const detections = await collectDetections(log);
  try {
    for (const s of scorers) await s.start();
    const now = Date.now();
    // Eight clients, one failed login each on "Dave" (spelled as people type it): no client is over any client rule.
    const clients = Array.from({ length: 8 }, (_, i) => `198.51.100.${40 + i}`);
    const logins = clients.map((ip, i) => enriched(ip, now + i * 100, { method: 'POST', path: '/login', status: 401, login: 'failed', loginUser: i % 2 ? 'Dave' : 'dave ' }));
    await log.produce(TOPICS.enriched, logins.map(message));
    await until('the account detection', () => detections.found.some((f) => f.d.rule === 'account-attack'));
    // Both instances had clients to score: the clients really were split between them.
    await until('both instances scored', () => scorers.every((s) => s.engine.stats().clients > 0));
    // The rest of the logins, judged after: no second detection of the account in its quiet period.
    await until('all logins counted', () => scorers.reduce((n, s) => n + s.engine.stats().accounts, 0) === 1 && scorers.some((s) => s.status().detections === 1));
    await new Promise((r) => setTimeout(r, 200));
    const found = detections.found.map((f) => f.d);
    assert.deepEqual(found.map((d) => d.rule), ['account-attack'], 'one detection, of the account');
    const d = found[0]!;
    assert.equal(d.evidence.account, 'dave');
    assert.equal(d.count, 6);
    assert.equal(d.action, 'alert');
    // Six failures from six of the clients: which six depends on the order the two instances re-keyed them in.
    const named = d.evidence.clients?.split('\n') ?? [];
    assert.equal(new Set(named).size, 6);
    assert.ok(named.every((ip) => clients.includes(ip)), named.join(', '));
    assert.equal(scorers.filter((s) => s.engine.stats().accounts > 0).length, 1, 'one instance owns the account');
  } finally {
    for (const s of scorers) await s.stop();
    await detections.stop();
    await log.close();
  }
});

test('a crawler claim checked by a DNS server that takes 1.5 s holds back its own detection only; the stream goes on', async () => {
  const log = createMemoryEventLog();
  await log.ensureTopics(topicSpecs(1));
  let lookups = 0;
  const slowDns = {
    reverse: async () => {
      lookups++;
      await new Promise((r) => setTimeout(r, 1500));
      return ['host-7.bots.example.net'];
    },
    resolve4: async () => [] as string[],
    resolve6: async () => [] as string[],
  };
  const scorer = createScorer({ log, metrics: createMetrics('scorer'), warn: () => {}, warmupMs: 0, crawlerVerifier: createCrawlerVerifier({ resolver: slowDns, timeoutMs: 5000 }) });
  const detections = await collectDetections(log);
  try {
    await scorer.start();
    const now = Date.now();
    // A fake Googlebot flooding (burst exempts verified crawlers only), then, on the same partition, a scanner.
    const flood = Array.from({ length: 60 }, (_, i) => enriched('203.0.113.70', now + i * 10, { path: `/item/${i}`, userAgent: GOOGLEBOT_UA }));
    const scanner = enriched('203.0.113.71', now + 700, { path: '/', userAgent: 'sqlmap/1.8.2#stable (https://sqlmap.org)' });
    const sent = Date.now();
    await log.produce(TOPICS.enriched, [...flood, scanner].map(message));
    await until('the scanner detection', () => detections.found.some((f) => f.d.client === '203.0.113.71'));
    const scannerAt = detections.found.find((f) => f.d.client === '203.0.113.71')!.at;
    assert.ok(scannerAt - sent < 1000, `the scanner was detected ${scannerAt - sent} ms after it was sent, while the crawler check was still running`);
    assert.ok(!detections.found.some((f) => f.d.client === '203.0.113.70'), 'the claimed crawler waits for its verdict');
    assert.equal(scorer.status().checking, 1);
    await until('the fake crawler detection', () => detections.found.some((f) => f.d.client === '203.0.113.70'));
    const fake = detections.found.find((f) => f.d.client === '203.0.113.70')!;
    assert.equal(fake.d.rule, 'burst');
    assert.match(fake.d.evidence.crawlerClaim ?? '', /claims Googlebot, not verified/);
    assert.ok(fake.at - sent >= 1400, `published ${fake.at - sent} ms after, once DNS answered`);
    assert.equal(lookups, 1);
    assert.equal(scorer.status().checking, 0);
  } finally {
    await scorer.stop();
    await detections.stop();
    await log.close();
  }
});
