import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { codecs, type Geo, type RequestEvent, type EnrichedRequest } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createEnricher, type GeoSource } from './enricher.ts';

const base: RequestEvent = {
  id: 'a', ts: 1, ip: '8.8.8.8', ipAnonymisation: 'off', app: 'enricher-test', instance: 'i', method: 'GET', host: 'h',
  path: '/x', status: 200, latencyMs: 1, bytes: 2, userAgent: 'ua', referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false,
};

// A fake behind the enricher's own GeoSource interface; the real lookup has its own tests.
const geos = new Map<string, Geo>([
  ['8.8.8.8', Object.freeze({ country: 'US', region: 'California', city: 'Mountain View', latitude: 37.4, longitude: -122.1, asn: 15169, org: 'Google LLC', source: 'offline' })],
  ['1.2.3.4', Object.freeze({ country: 'AU', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source: 'offline' })],
]);
const fakeGeo: GeoSource = { lookup: (ip) => geos.get(ip) ?? { country: '', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source: 'none' } };

test('enriches each event with its geolocation, canonicalising the IP; garbage goes to the DLQ', async () => {
  const log = createMemoryEventLog();
  await log.produce(TOPICS.requests, [
    { key: '8.8.8.8', value: codecs.RequestEvent.encode(base) },
    { key: 'x', value: Buffer.from([1, 2, 3]) },
    { key: '1.2.3.4', value: codecs.RequestEvent.encode({ ...base, id: 'b', ip: '::ffff:1.2.3.4', path: '/ü' }) },
    { key: 'bad', value: codecs.RequestEvent.encode({ ...base, id: 'c', ip: 'not-an-ip' }) },
    { key: '8.8.8.8', value: codecs.RequestEvent.encode({ ...base, id: 'd', userId: 'u', authenticated: true }) },
  ]);
  const out: LogMessage[] = [];
  const dead: LogMessage[] = [];
  const readOut = await log.consume({ groupId: 'out', topics: [TOPICS.enriched], handle: async (b) => void out.push(...b.messages) });
  const readDead = await log.consume({ groupId: 'dead', topics: [TOPICS.dlq], handle: async (b) => void dead.push(...b.messages) });
  const enricher = createEnricher({ log, geo: fakeGeo, metrics: createMetrics('enricher') });
  await enricher.start();
  while (out.length < 3 || dead.length < 2) await new Promise((r) => setTimeout(r, 5));
  await enricher.stop();
  await readOut.stop();
  await readDead.stop();

  const decoded: EnrichedRequest[] = out.map((m) => codecs.EnrichedRequest.decode(m.value!));
  assert.deepEqual(decoded.map((d) => d.request.id), ['a', 'b', 'd'], 'order kept');
  assert.deepEqual(out.map((m) => m.key), ['8.8.8.8', '1.2.3.4', '8.8.8.8']);
  assert.equal(decoded[0]!.geo.city, 'Mountain View');
  assert.equal(decoded[1]!.request.ip, '1.2.3.4', 'the IPv4-mapped form is unwrapped');
  assert.equal(decoded[1]!.request.path, '/ü');
  assert.equal(decoded[1]!.geo.country, 'AU');
  assert.equal(decoded[2]!.request.userId, 'u');
  assert.ok(decoded.every((d) => d.enrichedAt > 0));
  // The fast path (input bytes + cached Geo bytes) must be byte-for-byte the full encoding.
  assert.deepEqual(out[0]!.value, codecs.EnrichedRequest.encode(decoded[0]!));
  assert.match(dead[0]!.headers['ipwatch-error'] ?? '', /not a valid RequestEvent/);
  assert.match(dead[1]!.headers['ipwatch-error'] ?? '', /not an IP address/);
  await log.close();
});

test('online lookups of a batch run together: a slow provider costs one wait, not one per event', async () => {
  const log = createMemoryEventLog();
  const slowGeo: GeoSource = {
    lookup: fakeGeo.lookup,
    lookupWithFallback: (ip) => new Promise((resolve) => setTimeout(() => resolve({ ...fakeGeo.lookup(ip), source: 'slow-provider' }), 300)),
  };
  await log.produce(TOPICS.requests, Array.from({ length: 20 }, (_, i) => ({ key: '8.8.8.8', value: codecs.RequestEvent.encode({ ...base, id: `o${i}` }) })));
  const out: LogMessage[] = [];
  const reader = await log.consume({ groupId: 'online-out', topics: [TOPICS.enriched], handle: async (b) => void out.push(...b.messages) });
  const t0 = Date.now();
  const enricher = createEnricher({ log, geo: slowGeo, metrics: createMetrics('enricher'), online: true });
  await enricher.start();
  while (out.length < 20) await new Promise((r) => setTimeout(r, 5));
  const took = Date.now() - t0;
  await enricher.stop();
  await reader.stop();
  // One at a time would take 20 x 300 ms = 6 s.
  assert.ok(took < 3000, `took ${took} ms`);
  assert.ok(out.every((m) => codecs.EnrichedRequest.decode(m.value!).geo.source === 'slow-provider'));
  await log.close();
});
