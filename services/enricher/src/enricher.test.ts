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

/** Runs an enricher over `events` and returns what it produced (decoded, with their keys), and its metrics' text. */
async function enrich(events: RequestEvent[], options: { geo?: GeoSource; optOutRegions?: string[]; online?: boolean; v6Prefix?: number } = {}) {
  const log = createMemoryEventLog();
  await log.produce(TOPICS.requests, events.map((e) => ({ key: e.ip, value: codecs.RequestEvent.encode(e) })));
  const out: LogMessage[] = [];
  const reader = await log.consume({ groupId: 'out', topics: [TOPICS.enriched], handle: async (b) => void out.push(...b.messages) });
  const metrics = createMetrics('enricher');
  const enricher = createEnricher({ log, geo: options.geo ?? fakeGeo, metrics, ...(options.optOutRegions && { optOutRegions: options.optOutRegions }), ...(options.online && { online: true }), ...(options.v6Prefix !== undefined && { v6Prefix: options.v6Prefix }) });
  await enricher.start();
  while (out.length < events.length) await new Promise((r) => setTimeout(r, 5));
  await enricher.stop();
  await reader.stop();
  await log.close();
  const decoded = out.map((m) => ({ key: m.key, ...codecs.EnrichedRequest.decode(m.value!) }));
  return { byId: new Map(decoded.map((d) => [d.request.id, d])), metrics: await metrics.text() };
}

test('opted-out countries and regions: their visitors\' events are withheld and their place cut to country and region; other visitors untouched', async () => {
  geos.set('9.9.9.9', Object.freeze({ country: 'US', region: 'Texas', city: 'Austin', latitude: 30.3, longitude: -97.7, asn: 19281, org: 'Quad9', source: 'offline' }));
  geos.set('5.6.7.8', Object.freeze({ country: 'DE', region: 'Berlin', city: 'Berlin', latitude: 52.5, longitude: 13.4, asn: 3320, org: 'Deutsche Telekom AG', source: 'offline' }));
  const personal = { userId: 'alice', authenticated: true, userAgent: 'Browser/1.0', referer: 'https://ref.example/', path: '/users/alice', login: 'failed' as const, loginUser: 'alice@example.com' };
  const { byId, metrics } = await enrich(
    [
      { ...base, ...personal, id: 'au', ip: '1.2.3.4' },
      { ...base, ...personal, id: 'california', ip: '8.8.8.8' },
      { ...base, ...personal, id: 'texas', ip: '9.9.9.9' },
      { ...base, ...personal, id: 'berlin', ip: '5.6.7.8' },
      { ...base, id: 'from-the-app', ip: '::', path: '' },
    ],
    // The region as the geolocation names it, in any case; the country code too.
    { optOutRegions: ['au', 'US/california'] },
  );
  for (const id of ['au', 'california']) {
    const { key, request: r, geo } = byId.get(id)!;
    assert.deepEqual(
      { ip: r.ip, userId: r.userId, loginUser: r.loginUser, userAgent: r.userAgent, referer: r.referer, path: r.path, network: r.network },
      { ip: '::', userId: null, loginUser: null, userAgent: '', referer: '', path: '', network: null },
      id,
    );
    assert.deepEqual([r.method, r.status, r.bytes, r.authenticated, r.login, r.app], ['GET', 200, 2, true, 'failed', 'enricher-test'], `${id}: the figures stay`);
    assert.equal(key, id, `${id}: keyed by its event id, not an address`);
    assert.deepEqual([geo.city, geo.latitude, geo.longitude], ['', null, null], id);
  }
  assert.deepEqual({ ...byId.get('california')!.geo }, { country: 'US', region: 'California', city: '', latitude: null, longitude: null, asn: 15169, org: 'Google LLC', source: 'offline' });
  assert.deepEqual([byId.get('au')!.geo.country, byId.get('au')!.geo.asn], ['AU', 0]);
  for (const [id, ip, city] of [['texas', '9.9.9.9', 'Austin'], ['berlin', '5.6.7.8', 'Berlin']] as const) {
    const { key, request: r, geo } = byId.get(id)!;
    assert.deepEqual([key, r.ip, r.userId, r.path, r.loginUser, geo.city], [ip, ip, 'alice', '/users/alice', 'alice@example.com', city], `${id} is untouched`);
  }
  assert.equal(byId.get('from-the-app')!.request.ip, '::');
  assert.match(metrics, /^ipwatch_enricher_withheld_total\{by="region",service="enricher"\} 2$/m);
  assert.match(metrics, /^ipwatch_enricher_withheld_total\{by="app",service="enricher"\} 1$/m);
});

test('a malformed opt-out region is refused at start', () => {
  assert.throws(() => createEnricher({ log: createMemoryEventLog(), geo: fakeGeo, metrics: createMetrics('enricher'), optOutRegions: ['Germany'] }), /"Germany" is neither a two-letter country code \(DE\) nor a country and a region \(US\/California\)/);
});

test('hash mode: the pseudonym is geolocated by the network sent beside it, which is then cleared, never stored', async () => {
  geos.set('8.8.8.0', Object.freeze({ country: 'US', region: 'California', city: 'Mountain View', latitude: 37.4, longitude: -122.1, asn: 15169, org: 'Google LLC', source: 'offline' }));
  const asked: string[] = [];
  const recording: GeoSource = { lookup: (ip) => (asked.push(ip), fakeGeo.lookup(ip)), lookupWithFallback: async (ip) => (asked.push(ip), fakeGeo.lookup(ip)) };
  const pseudonym = '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901';
  const events: RequestEvent[] = [
    { ...base, id: 'hashed', ip: pseudonym, ipAnonymisation: 'hash', network: '8.8.8.0/24' },
    { ...base, id: 'hashed-no-network', ip: pseudonym, ipAnonymisation: 'hash', network: null },
    { ...base, id: 'hashed-garbage', ip: pseudonym, ipAnonymisation: 'hash', network: 'not a network' },
    { ...base, id: 'off', ip: '1.2.3.4', network: '8.8.8.0/24' },
  ];
  for (const online of [false, true]) {
    asked.length = 0;
    const { byId } = await enrich(events, { geo: recording, online, optOutRegions: ['DE'] });
    assert.deepEqual(asked, ['8.8.8.0', pseudonym, pseudonym, '1.2.3.4'], `online ${online}: what was looked up`);
    const hashed = byId.get('hashed')!;
    assert.deepEqual([hashed.request.ip, hashed.key, hashed.geo.city, hashed.geo.asn], [pseudonym, pseudonym, 'Mountain View', 15169]);
    assert.equal(byId.get('hashed-no-network')!.geo.country, '');
    assert.equal(byId.get('off')!.geo.country, 'AU', 'a real address is located by itself');
    for (const d of byId.values()) assert.equal(d.request.network, null, `${d.request.id}: the network is cleared`);
  }
});

test('hash mode in an opted-out country: withheld, and its network gone with the rest', async () => {
  geos.set('1.2.3.0', geos.get('1.2.3.4')!);
  const { byId } = await enrich([{ ...base, id: 'h', ip: '2001:db8::1', ipAnonymisation: 'hash', network: '1.2.3.0/24', userId: 'u' }], { optOutRegions: ['AU'] });
  const { request: r, geo } = byId.get('h')!;
  assert.deepEqual([r.ip, r.network, r.userId, geo.country], ['::', null, null, 'AU']);
});

test('keyed by the client the scorer counts: an IPv4 address, an IPv6 network of the scorer\'s prefix; a pseudonym by itself, a withheld event by its id', async () => {
  const events: RequestEvent[] = [
    { ...base, id: 'v4', ip: '203.0.113.9' },
    { ...base, id: 'v6-a', ip: '2001:db8:1:2:aaaa::1' },
    { ...base, id: 'v6-b', ip: '2001:DB8:1:2:bbbb:0:0:2' },
    { ...base, id: 'v6-other-64', ip: '2001:db8:1:3::5' },
    { ...base, id: 'truncated', ip: '2001:db8:1:2::', ipAnonymisation: 'truncate' },
    { ...base, id: 'hash', ip: '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901', ipAnonymisation: 'hash' },
    // The same text as a real address and as a pseudonym: each keyed as what it is.
    { ...base, id: 'hash-like-address', ip: '2001:db8:1:2:aaaa::1', ipAnonymisation: 'hash' },
    { ...base, id: 'withheld', ip: '::', path: '' },
  ];
  const keys = async (v6Prefix?: number) => {
    const { byId } = await enrich(events, v6Prefix === undefined ? {} : { v6Prefix });
    return Object.fromEntries([...byId].map(([id, d]) => [id, d.key]));
  };
  const common = { v4: '203.0.113.9', hash: '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901', 'hash-like-address': '2001:db8:1:2:aaaa::1', withheld: 'withheld' };
  assert.deepEqual(await keys(), { ...common, 'v6-a': '2001:db8:1:2::/64', 'v6-b': '2001:db8:1:2::/64', 'v6-other-64': '2001:db8:1:3::/64', truncated: '2001:db8:1:2::/64' }, 'by default a /64');
  assert.deepEqual(await keys(48), { ...common, 'v6-a': '2001:db8:1::/48', 'v6-b': '2001:db8:1::/48', 'v6-other-64': '2001:db8:1::/48', truncated: '2001:db8:1::/48' }, 'a /48');
  assert.deepEqual(await keys(128), { ...common, 'v6-a': '2001:db8:1:2:aaaa::1', 'v6-b': '2001:db8:1:2:bbbb::2', 'v6-other-64': '2001:db8:1:3::5', truncated: '2001:db8:1:2::' }, 'a /128: each address');
});
