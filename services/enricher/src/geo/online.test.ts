/**
 * The online fallback chain against a real HTTP server on 127.0.0.1 (random port) that
 * plays ipinfo, ip-api, a slow provider, a junk one, a huge one and a failing one.
 * 3000::/16 addresses are public but absent from the offline data, so they reach the chain.
 */
import { test, describe, beforeAll, afterAll } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGeoLookup, parseProvider, GeoConfigError } from './index.ts';

let server: Server;
let base: string;
/** Every request the server saw, as "route ip" with the raw (still URL-encoded) ip. */
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const [, route = '', raw = ''] = (req.url ?? '').split('/');
    seen.push(`${route} ${raw}`);
    const ip = decodeURIComponent(raw);
    const json = (body: unknown): void => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    switch (route) {
      case 'ipinfo':
        return json({ ip, city: 'Zurich', region: 'Zurich', country: 'CH', loc: '47.3667,8.5500', org: 'AS559 SWITCH', timezone: 'Europe/Zurich' });
      case 'ipapi':
        return json({ status: 'success', query: ip, countryCode: 'JP', regionName: 'Tokyo', city: 'Tokyo', lat: 35.6895, lon: 139.6917, as: 'AS2497 Internet Initiative Japan Inc.', isp: 'IIJ' });
      case 'ipapi-noas':
        return json({ status: 'success', countryCode: 'NZ', regionName: 'Auckland', city: 'Auckland', lat: -36.85, lon: 174.76, isp: 'Some ISP' });
      case 'ipapi-fail':
        return json({ status: 'fail', message: 'reserved range' });
      case 'slow':
        return void setTimeout(() => json({ country: 'US', city: 'Late' }), 5_000).unref();
      case 'junk':
        res.end('<html>not json</html>');
        return;
      case 'nocountry':
        return json({ city: 'Nowhere', country: 'Narnia' });
      case 'huge':
        return json({ country: 'US', padding: 'x'.repeat(100_000) });
      case 'error':
        res.statusCode = 500;
        res.end('boom');
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const provider = (name: string, route = name): string => `${name}=${base}/${route}/{ip}`;

describe('online fallback chain', () => {
  test('providers are tried in order: timeout, junk, no country and HTTP errors are skipped and counted', async () => {
    const geo = await createGeoLookup({
      cacheSize: 100,
      onlineTimeoutMs: 200,
      onlineProviders: [provider('slow'), provider('junk'), provider('nocountry'), provider('error'), provider('ipapi'), provider('ipinfo')],
    });
    seen.length = 0;
    const started = Date.now();
    const g = await geo.lookupWithFallback('3000::1');
    assert.ok(Date.now() - started < 4_500, 'the slow provider (answering after 5 s) was cut off by the 200 ms timeout, even on a loaded machine');
    assert.deepEqual({ ...g }, { country: 'JP', region: 'Tokyo', city: 'Tokyo', latitude: 35.6895, longitude: 139.6917, asn: 2497, org: 'Internet Initiative Japan Inc.', source: 'ipapi' });
    // The address goes out URL-encoded; the chain stopped at the first good answer.
    assert.deepEqual(seen, ['slow 3000%3A%3A1', 'junk 3000%3A%3A1', 'nocountry 3000%3A%3A1', 'error 3000%3A%3A1', 'ipapi 3000%3A%3A1']);
    const s = geo.stats().online!;
    assert.deepEqual([s.requests, s.calls, s.failures, s.unanswered], [1, 5, 4, 0]);
    assert.equal(s.providers.slow!.timeouts, 1);
    assert.equal(s.providers.junk!.junk, 1);
    assert.equal(s.providers.nocountry!.junk, 1);
    assert.equal(s.providers.error!.errors, 1);
    assert.equal(s.providers.error!.lastFailure?.detail, 'HTTP 500');
    assert.equal(s.providers.ipapi!.ok, 1);
    assert.equal(s.providers.ipinfo!.calls, 0);
    geo.close();
  });

  test('ipinfo-style answers are mapped (loc, "AS559 SWITCH")', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineProviders: [provider('ipinfo')] });
    const g = await geo.lookupWithFallback('3000::2');
    assert.deepEqual({ ...g }, { country: 'CH', region: 'Zurich', city: 'Zurich', latitude: 47.3667, longitude: 8.55, asn: 559, org: 'SWITCH', source: 'ipinfo' });
    geo.close();
  });

  test('ip-api "fail" answers are junk; an answer without an AS keeps the offline one (none here)', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineProviders: [provider('fails', 'ipapi-fail'), provider('ipapi2', 'ipapi-noas')] });
    const g = await geo.lookupWithFallback('3000::3');
    assert.equal(g.source, 'ipapi2');
    assert.equal(g.country, 'NZ');
    assert.equal(g.asn, 0);
    assert.equal(g.org, '');
    assert.equal(geo.stats().online!.providers.fails!.junk, 1);
    geo.close();
  });

  test('an oversized response is junk', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineMaxResponseBytes: 4096, onlineProviders: [provider('huge')] });
    const g = await geo.lookupWithFallback('3000::4');
    assert.equal(g.source, 'none');
    const p = geo.stats().online!.providers.huge!;
    assert.equal(p.junk, 1);
    assert.match(p.lastFailure!.detail, /larger than 4096/);
    geo.close();
  });

  test('answers are cached for 24 h (injected clock), then asked again', async () => {
    let now = 1_000_000;
    const geo = await createGeoLookup({ cacheSize: 100, now: () => now, onlineProviders: [provider('ipinfo')] });
    seen.length = 0;
    assert.equal((await geo.lookupWithFallback('3000::5')).source, 'ipinfo');
    now += 23 * 3_600_000;
    assert.equal((await geo.lookupWithFallback('3000::5')).source, 'ipinfo');
    assert.equal((await geo.lookupWithFallback('3000:0:0::5')).source, 'ipinfo');
    assert.equal(seen.length, 1);
    assert.equal(geo.stats().online!.cacheHits, 2);
    now += 2 * 3_600_000;
    assert.equal((await geo.lookupWithFallback('3000::5')).source, 'ipinfo');
    assert.equal(seen.length, 2);
    geo.close();
  });

  test('failures are cached for a shorter while', async () => {
    let now = 0;
    const geo = await createGeoLookup({ cacheSize: 100, now: () => now, onlineFailureTtlMs: 60_000, onlineProviders: [provider('error')] });
    seen.length = 0;
    assert.equal((await geo.lookupWithFallback('3000::6')).source, 'none');
    now += 59_000;
    assert.equal((await geo.lookupWithFallback('3000::6')).source, 'none');
    assert.equal(seen.length, 1);
    now += 2_000;
    await geo.lookupWithFallback('3000::6');
    assert.equal(seen.length, 2);
    assert.equal(geo.stats().online!.unanswered, 2);
    geo.close();
  });

  test('concurrent lookups of one address make one call', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineProviders: [provider('ipinfo')] });
    seen.length = 0;
    const answers = await Promise.all([geo.lookupWithFallback('3000::7'), geo.lookupWithFallback('3000::7'), geo.lookupWithFallback('3000::0.0.0.7')]);
    assert.ok(answers.every((a) => a.source === 'ipinfo'));
    assert.equal(seen.length, 1);
    geo.close();
  });

  test('private, reserved and invalid addresses never reach a provider; a city known offline is kept', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineProviders: [provider('ipinfo')] });
    seen.length = 0;
    const cases: Array<[string, string]> = [
      ['10.0.0.1', 'private'],
      ['192.168.0.7', 'private'],
      ['fd12::1', 'private'],
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['fe80::1', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['192.0.2.1', 'documentation'],
      ['2001:db8::1', 'documentation'],
      ['240.0.0.1', 'reserved'],
      ['not an ip', 'invalid'],
      ['8.8.8.8', 'offline'],
    ];
    for (const [ip, source] of cases) assert.equal((await geo.lookupWithFallback(ip)).source, source, ip);
    assert.deepEqual(seen, []);
    assert.equal(geo.stats().online!.requests, 0);
    geo.close();
  });

  test('without providers lookupWithFallback is the offline answer', async () => {
    const geo = await createGeoLookup({ cacheSize: 100 });
    assert.equal((await geo.lookupWithFallback('3000::8')).source, 'none');
    assert.equal(geo.stats().online, null);
    geo.close();
  });

  test('close() aborts calls in flight; they answer offline', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineTimeoutMs: 10_000, onlineProviders: [provider('slow')] });
    const pending = geo.lookupWithFallback('3000::9');
    await new Promise((r) => setTimeout(r, 50));
    geo.close();
    assert.equal((await pending).source, 'none');
  });

  test('beyond onlineMaxInFlight addresses at once, the offline answer is used', async () => {
    const geo = await createGeoLookup({ cacheSize: 100, onlineTimeoutMs: 300, onlineMaxInFlight: 1, onlineProviders: [provider('slow')] });
    const first = geo.lookupWithFallback('3000::a');
    assert.equal((await geo.lookupWithFallback('3000::b')).source, 'none');
    assert.equal(geo.stats().online!.skipped, 1);
    await first;
    geo.close();
  });
});

describe('provider configuration', () => {
  test('name=urlTemplate strings; the format follows the name', () => {
    assert.deepEqual({ ...parseProvider('ipapi=http://127.0.0.1:8080/json/{ip}') }, { name: 'ipapi', urlTemplate: 'http://127.0.0.1:8080/json/{ip}', format: 'ipapi', headers: {} });
    assert.equal(parseProvider('ipinfo=https://ipinfo.io/{ip}/json').format, 'ipinfo');
    assert.equal(parseProvider('mine=https://geo.example/{ip}').format, 'auto');
    assert.equal(parseProvider({ name: 'corp', urlTemplate: 'https://geo.example/{ip}', format: 'ipinfo', headers: { authorization: 'Bearer t' } }).headers.authorization, 'Bearer t');
  });

  test('bad providers are refused with what to fix', () => {
    const bad: Array<[string, RegExp]> = [
      ['http://x/{ip}', /must be name=urlTemplate/],
      ['ipapi=file:///etc/passwd?{ip}', /only http/],
      ['ipapi=javascript:{ip}', /only http/],
      ['ipapi=http://x/json', /must contain \{ip\}/],
      ['ipapi=not a url {ip}', /is not a URL/],
      ['1bad=http://x/{ip}', /name/],
      ['private=http://x/{ip}', /reserved/],
      ['offline=http://x/{ip}', /reserved/],
    ];
    for (const [spec, message] of bad) assert.throws(() => parseProvider(spec), (e: Error) => e instanceof GeoConfigError && message.test(e.message), spec);
  });
});
