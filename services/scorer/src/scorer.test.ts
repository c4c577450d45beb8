/**
 * The scorer never scores a withheld request (its visitor opted out: address `::`, nothing
 * personal): no detection, no block, whatever the requests look like; they are counted as
 * skipped. The same traffic from a real address is detected and blocked, so the rules would
 * have fired. The real scorer over the in-process event log, with the default rules; and
 * detection over history (detectHistory) alike.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { codecs, SCHEMA_HEADER, type EnrichedRequest, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { WITHHELD_IP } from '@ipwatch/core/privacy';
import { DEFAULT_RULES } from '@ipwatch/core/rules';
import { createScorer } from './scorer.ts';
import { detectHistory } from './history.ts';

const geo = { country: 'DE', region: 'Berlin', city: '', latitude: null, longitude: null, asn: 3320, org: 'Deutsche Telekom AG', source: 'offline' };

/** Twelve failed logins, then sixty page requests in a few seconds: login-failures and burst, both blocking rules. */
function attack(ip: string, at: number): EnrichedRequest[] {
  const one = (i: number, over: Partial<RequestEvent>): EnrichedRequest => ({
    request: {
      id: `${ip}-${i}`, ts: at + i * 50, ip, ipAnonymisation: 'off', app: 'shop', instance: 'i', method: 'GET', host: 'shop.example', path: `/page/${i}`,
      status: 200, latencyMs: 3, bytes: 100, userAgent: 'Browser/1.0', referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false,
      login: 'none', loginUser: null, network: null, ...over,
    },
    geo,
    enrichedAt: at + i * 50,
  });
  return [
    ...Array.from({ length: 12 }, (_, i) => one(i, { method: 'POST', path: '/login', status: 401, login: 'failed', loginUser: `user${i}` })),
    ...Array.from({ length: 60 }, (_, i) => one(100 + i, {})),
  ];
}

/** As the enricher writes a withheld request: nothing personal left. */
function withheld(e: EnrichedRequest): EnrichedRequest {
  return { ...e, request: { ...e.request, ip: WITHHELD_IP, path: '', userAgent: '', loginUser: null } };
}

test('withheld requests are never scored, detected or blocked; the same traffic from an address is', async () => {
  const log = createMemoryEventLog();
  const metrics = createMetrics('scorer');
  const now = Date.now();
  const optedOut = attack('198.51.100.7', now).map(withheld);
  const control = attack('198.51.100.8', now);
  const message = (e: EnrichedRequest) => ({ key: e.request.ip === WITHHELD_IP ? e.request.id : e.request.ip, value: codecs.EnrichedRequest.encode(e), headers: { [SCHEMA_HEADER]: 'EnrichedRequest' } });
  // The withheld ones first: had they been scored, their detections would come before the control's.
  await log.produce(TOPICS.enriched, [...optedOut, ...control].map(message));
  const detections: LogMessage[] = [];
  const blocks: LogMessage[] = [];
  const reader = await log.consume({ groupId: 'read', topics: [TOPICS.detections, TOPICS.blocks], handle: async (b) => void (b.topic === TOPICS.blocks ? blocks : detections).push(...b.messages) });
  const scorer = createScorer({ log, metrics, warn: () => {}, warmupMs: 0 });
  await scorer.start();
  try {
    const deadline = Date.now() + 10_000;
    while ((scorer.status().detections < 2 || blocks.length < 1 || !/skipped_total\{reason="withheld"[^}]*\} 72$/m.test(await metrics.text())) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const found = detections.map((m) => codecs.Detection.decode(m.value!));
    assert.deepEqual([...new Set(found.map((d) => d.ip))], ['198.51.100.8'], 'only the address is detected');
    const rules = new Set(found.map((d) => d.rule));
    assert.ok(rules.has('burst') && rules.has('login-failures'), [...rules].join(', '));
    assert.ok(blocks.length >= 1 && blocks.every((m) => m.key === '198.51.100.8'), `blocks: ${blocks.map((m) => m.key).join(', ')}`);
    assert.match(await metrics.text(), /^ipwatch_scorer_skipped_total\{reason="withheld",service="scorer"\} 72$/m);
    assert.equal(scorer.engine.stats().clients, 1, 'the withheld requests never reached the windows');
  } finally {
    await scorer.stop();
    await reader.stop();
    await log.close();
  }
});

test('detection over history (ipwatch detect, the rule what-if) skips withheld rows too, and says how many', async () => {
  const now = Date.now();
  const rows = [...attack('198.51.100.7', now).map(withheld), ...attack('198.51.100.8', now)].map(({ request: r }) => ({
    ts: r.ts, ip: r.ip, ipAnonymisation: r.ipAnonymisation, method: r.method, path: r.path, status: r.status, userAgent: r.userAgent, blocked: r.blocked,
    login: r.login ?? 'none', loginUser: r.loginUser ?? null, country: geo.country, asn: geo.asn, org: geo.org,
  }));
  const found: string[] = [];
  const result = await detectHistory({
    store: { scanRequests: async (_q, onRows) => (await onRows(rows), rows.length) },
    rules: DEFAULT_RULES,
    sinceMs: now - 60_000,
    untilMs: now + 60_000,
    onDetection: (d) => void found.push(d.ip),
  });
  assert.deepEqual([result.requests, result.withheld], [144, 72]);
  assert.ok(found.length >= 2 && found.every((ip) => ip === '198.51.100.8'), found.join(', '));
});

test('detection over history counts accounts too: failed logins on one username from six clients give one account-attack, as the live scorer would', async () => {
  const now = Date.now();
  const rows = Array.from({ length: 6 }, (_, i) => ({
    ts: now + i * 1000, ip: `198.51.100.${90 + i}`, ipAnonymisation: 'off' as const, method: 'POST', path: '/login', status: 401, userAgent: 'Browser/1.0', blocked: false,
    login: 'failed' as const, loginUser: i % 2 ? 'Heidi' : 'heidi', country: geo.country, asn: geo.asn, org: geo.org,
  }));
  const found: Array<{ rule: string; account?: string }> = [];
  const result = await detectHistory({
    store: { scanRequests: async (_q, onRows) => (await onRows(rows), rows.length) },
    rules: DEFAULT_RULES,
    sinceMs: now - 60_000,
    untilMs: now + 60_000,
    onDetection: (d) => void found.push({ rule: d.rule, account: d.evidence.account }),
  });
  assert.deepEqual(found, [{ rule: 'account-attack', account: 'heidi' }]);
  assert.deepEqual(result.byRule, { 'account-attack': 1 });
});
