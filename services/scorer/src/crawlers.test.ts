/**
 * Crawler claims: the user-agent matcher, and verification through the real node:dns
 * resolver against a DNS server of the test's own on loopback (test/support/dnsServer.ts).
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { IpwatchError } from '@ipwatch/core/errors';
import { afterThisTest } from '../../../test/support/afterThisTest.ts';
import { startDnsServer, type DnsTable, type TestDnsServer } from '../../../test/support/dnsServer.ts';
import { claimedCrawler, createCrawlerVerifier, isUnderDomain, KNOWN_CRAWLERS, USER_AGENT_PREFIX, type CrawlerVerifierOptions, type KnownCrawler } from './crawlers.ts';

function crawler(name: string): KnownCrawler {
  const c = KNOWN_CRAWLERS.find((k) => k.name === name);
  assert.ok(c, `no crawler ${name}`);
  return c;
}
const GOOGLEBOT = crawler('Googlebot');

/** The genuine records of Google's example (developers.google.com, "Verifying Googlebot"). */
const GENUINE: DnsTable = {
  ptr: { '66.249.66.1': ['crawl-66-249-66-1.googlebot.com'] },
  a: { 'crawl-66-249-66-1.googlebot.com': ['66.249.66.1'] },
};

async function dnsWith(table: DnsTable): Promise<TestDnsServer> {
  const dns = await startDnsServer(table);
  afterThisTest(() => dns.close());
  return dns;
}

function verifierOn(dns: TestDnsServer, options: CrawlerVerifierOptions = {}) {
  return createCrawlerVerifier({ servers: [dns.address], timeoutMs: 1000, ...options });
}

describe('claimedCrawler', () => {
  const REAL: Array<[string, string]> = [
    ['Googlebot', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'],
    ['Googlebot', 'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'],
    ['Googlebot', 'Googlebot-Image/1.0'],
    ['Googlebot', 'Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)'],
    ['Googlebot', 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)'],
    ['Googlebot', 'Mediapartners-Google'],
    ['Googlebot', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 (compatible; Storebot-Google/1.0)'],
    ['Bingbot', 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'],
    ['Bingbot', 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/131.0.0.0 Safari/537.36'],
    ['Bingbot', 'msnbot/2.0b (+http://search.msn.com/msnbot.htm)'],
    ['Applebot', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)'],
    ['YandexBot', 'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)'],
    ['YandexBot', 'Mozilla/5.0 (iPhone; CPU iPhone OS 8_1 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) Version/8.0 Mobile/12B411 Safari/600.1.4 (compatible; YandexMobileBot/3.0; +http://yandex.com/bots)'],
    ['YandexBot', 'Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)'],
    ['Baiduspider', 'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)'],
    ['Baiduspider', 'Mozilla/5.0 (iPhone;CPU iPhone OS 9_1 like Mac OS X) AppleWebKit/601.1.46 (KHTML, like Gecko)Version/9.0 Mobile/13B143 Safari/601.1 (compatible; Baiduspider-render/2.0; +http://www.baidu.com/search/spider.html)'],
    ['PetalBot', 'Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)'],
  ];
  test.each(REAL)('%s: %s', (name, ua) => {
    assert.equal(claimedCrawler(ua)?.name, name);
  });

  const LOOKALIKES = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'Mozilla/5.0 (compatible; Googlebott/2.1)', // one letter more
    'Mozilla/5.0 (compatible; XGooglebot/2.1)', // glued to another word
    'Mozilla/5.0 (compatible; Goog1ebot/2.1)', // a digit for a letter
    'Mozilla/5.0 (compatible; Google Favicon)', // Google, but no crawler token
    'Mozilla/5.0 (compatible; bingbotnet/1.0)',
    'Mozilla/5.0 (compatible; Applebots/1.0)',
    'Mozilla/5.0 (compatible; NotYandexBot/1.0)',
    'Mozilla/5.0 (compatible; Baiduspiderman/1.0)',
    'Mozilla/5.0 (compatible; PetalBots)',
    'DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)', // documents IPs, not reverse DNS: not a known crawler
    'FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)', // user-triggered: not a search crawler here
    'Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)',
    '',
  ];
  test.each(LOOKALIKES)('no claim: %j', (ua) => {
    assert.equal(claimedCrawler(ua), null);
  });

  test('only a bounded prefix is read: a claim after it is no claim, and a huge hostile agent is cheap', () => {
    const padding = 'a'.repeat(USER_AGENT_PREFIX);
    assert.equal(claimedCrawler(`${padding}Googlebot/2.1`), null);
    assert.equal(claimedCrawler(`Googlebot/2.1 ${padding}`)?.name, 'Googlebot');
    const hostile = 'Yandex'.repeat(200_000) + 'Bot'; // 1.2 MB built to make a backtracking regex crawl
    const started = performance.now();
    for (let i = 0; i < 100; i++) claimedCrawler(hostile);
    assert.ok(performance.now() - started < 500, `100 matches of a 1.2 MB agent took ${Math.round(performance.now() - started)} ms`);
  });

  test('a regex in the list is never global (a global regex keeps lastIndex between tests and misses every other one)', () => {
    for (const c of KNOWN_CRAWLERS) assert.equal(c.userAgent.global || c.userAgent.sticky, false, c.name);
    const ua = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
    assert.equal(claimedCrawler(ua)?.name, 'Bingbot');
    assert.equal(claimedCrawler(ua)?.name, 'Bingbot');
  });
});

describe('isUnderDomain', () => {
  test('the domain itself or below it, case and trailing dot ignored; never a longer name ending the same', () => {
    assert.equal(isUnderDomain('crawl-66-249-66-1.googlebot.com', ['googlebot.com']), true);
    assert.equal(isUnderDomain('googlebot.com', ['googlebot.com']), true);
    assert.equal(isUnderDomain('CRAWL-1.GoogleBot.COM.', ['googlebot.com']), true);
    assert.equal(isUnderDomain('evilgooglebot.com', ['googlebot.com']), false);
    assert.equal(isUnderDomain('googlebot.com.evil.example', ['googlebot.com']), false);
    assert.equal(isUnderDomain('crawl.googlebot.co', ['googlebot.com']), false);
  });
});

describe('createCrawlerVerifier', () => {
  test('a genuine Googlebot: PTR under googlebot.com and the A record gives the address back', async () => {
    const dns = await dnsWith(GENUINE);
    const verdict = await verifierOn(dns).verify('66.249.66.1', GOOGLEBOT);
    assert.deepEqual(verdict, {
      verified: true,
      crawler: 'Googlebot',
      hostname: 'crawl-66-249-66-1.googlebot.com',
      reason: 'reverse DNS 66.249.66.1 -> crawl-66-249-66-1.googlebot.com, forward lookup returns the same address',
    });
    assert.deepEqual(dns.queries, [
      { type: 'PTR', name: '1.66.249.66.in-addr.arpa' },
      { type: 'A', name: 'crawl-66-249-66-1.googlebot.com' },
    ]);
  });

  test('a fake claim: the PTR name is in another domain, refused without a forward lookup', async () => {
    const dns = await dnsWith({ ptr: { '203.0.113.9': ['evil.example'] }, a: { 'evil.example': ['203.0.113.9'] } });
    const verdict = await verifierOn(dns).verify('203.0.113.9', GOOGLEBOT);
    assert.deepEqual(verdict, {
      verified: false,
      crawler: 'Googlebot',
      hostname: 'evil.example',
      reason: 'reverse DNS name evil.example is not under googlebot.com, google.com',
    });
    assert.deepEqual(dns.queries.map((q) => q.type), ['PTR']);
  });

  test('a PTR name under googlebot.com whose forward lookup gives another address is refused (anyone can set a PTR on their own addresses)', async () => {
    const dns = await dnsWith({
      ptr: { '203.0.113.9': ['crawl-66-249-66-1.googlebot.com'] },
      a: { 'crawl-66-249-66-1.googlebot.com': ['66.249.66.1'] },
    });
    const verdict = await verifierOn(dns).verify('203.0.113.9', GOOGLEBOT);
    assert.equal(verdict.verified, false);
    assert.equal(verdict.hostname, 'crawl-66-249-66-1.googlebot.com');
    assert.equal(verdict.reason, 'reverse DNS 203.0.113.9 -> crawl-66-249-66-1.googlebot.com, but the forward lookup (A) of crawl-66-249-66-1.googlebot.com returns 66.249.66.1, not 203.0.113.9');
  });

  test('a PTR name under the domain with no A record at all is refused', async () => {
    const dns = await dnsWith({ ptr: { '203.0.113.9': ['crawl-203-0-113-9.googlebot.com'] } });
    const verdict = await verifierOn(dns).verify('203.0.113.9', GOOGLEBOT);
    assert.equal(verdict.verified, false);
    assert.equal(verdict.reason, 'reverse DNS 203.0.113.9 -> crawl-203-0-113-9.googlebot.com, but crawl-203-0-113-9.googlebot.com has no A record');
  });

  test.each([
    ['googlebot.com.evil.example', 'a name that starts with the domain'],
    ['evilgooglebot.com', 'a name that ends with the domain without a dot before it'],
    ['crawl-203-0-113-9.bc.googleusercontent.com', 'a Google Cloud VM (googleusercontent.com is left out on purpose)'],
  ])('suffix trickery refused even with a matching forward record: %s (%s)', async (name) => {
    const dns = await dnsWith({ ptr: { '203.0.113.9': [name] }, a: { [name]: ['203.0.113.9'] } });
    const verdict = await verifierOn(dns).verify('203.0.113.9', GOOGLEBOT);
    assert.equal(verdict.verified, false);
    assert.equal(verdict.reason, `reverse DNS name ${name} is not under googlebot.com, google.com`);
  });

  test('an IPv6 crawler is verified through AAAA (and no A is asked)', async () => {
    const ip = '2001:4860:4801:10::1';
    const host = 'crawl-2001-4860-4801-10--1.googlebot.com';
    const dns = await dnsWith({ ptr: { [ip]: [host] }, aaaa: { [host]: ['2001:4860:4801:0010:0000:0000:0000:0001'] } });
    const verdict = await verifierOn(dns).verify('2001:4860:4801:10:0:0:0:1', GOOGLEBOT);
    assert.deepEqual(verdict, {
      verified: true,
      crawler: 'Googlebot',
      hostname: host,
      reason: `reverse DNS ${ip} -> ${host}, forward lookup returns the same address`,
    });
    assert.deepEqual(dns.queries.map((q) => q.type), ['PTR', 'AAAA']);
    assert.equal(dns.queries[0]!.name, '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.1.0.8.4.0.6.8.4.1.0.0.2.ip6.arpa');
  });

  test('an IPv4-mapped IPv6 address is checked as the IPv4 address it is', async () => {
    const dns = await dnsWith(GENUINE);
    const verdict = await verifierOn(dns).verify('::ffff:66.249.66.1', GOOGLEBOT);
    assert.equal(verdict.verified, true);
    assert.deepEqual(dns.queries.map((q) => q.type), ['PTR', 'A']);
  });

  test('case and a trailing dot in the PTR name do not matter; of several names the one under the domain is used', async () => {
    const dns = await dnsWith({
      ptr: { '157.55.39.84': ['host.example.net', 'MSNBOT-157-55-39-84.Search.MSN.com.'] },
      a: { 'msnbot-157-55-39-84.search.msn.com': ['157.55.39.84'] },
    });
    const verdict = await verifierOn(dns).verify('157.55.39.84', crawler('Bingbot'));
    assert.equal(verdict.verified, true);
    assert.equal(verdict.hostname, 'msnbot-157-55-39-84.search.msn.com');
  });

  test('each crawler has its own domains: a genuine Googlebot address is no Applebot', async () => {
    const dns = await dnsWith(GENUINE);
    const verdict = await verifierOn(dns).verify('66.249.66.1', crawler('Applebot'));
    assert.equal(verdict.verified, false);
    assert.equal(verdict.reason, 'reverse DNS name crawl-66-249-66-1.googlebot.com is not under applebot.apple.com');
  });

  test('an address with no PTR record is refused', async () => {
    const dns = await dnsWith({});
    const verdict = await verifierOn(dns).verify('198.51.100.7', GOOGLEBOT);
    assert.deepEqual(verdict, { verified: false, crawler: 'Googlebot', reason: 'reverse DNS of 198.51.100.7 gives no name' });
  });

  test('something that is not an address is refused without a DNS query', async () => {
    const dns = await dnsWith(GENUINE);
    const verdict = await verifierOn(dns).verify('66.249.66.1; rm -rf /', GOOGLEBOT);
    assert.equal(verdict.verified, false);
    assert.match(verdict.reason, /is not an IP address$/);
    assert.equal(dns.queries.length, 0);
  });

  test('DNS not answering: not verified, within the timeout, and asked again only after the short error TTL', async () => {
    const dns = await dnsWith(GENUINE);
    dns.silent = true;
    let clock = 1_000_000;
    const verifier = verifierOn(dns, { timeoutMs: 300, now: () => clock });
    const started = performance.now();
    const verdict = await verifier.verify('66.249.66.1', GOOGLEBOT);
    const took = performance.now() - started;
    assert.deepEqual(verdict, { verified: false, crawler: 'Googlebot', reason: 'DNS did not answer within 300 ms' });
    assert.ok(took >= 250 && took < 1000, `took ${Math.round(took)} ms for a 300 ms timeout`);
    assert.equal(verifier.stats().dnsFailures, 1);

    dns.silent = false;
    clock += 4 * 60_000; // within the 5 min error TTL: the failure stands
    assert.equal((await verifier.verify('66.249.66.1', GOOGLEBOT)).verified, false);
    assert.equal(dns.queries.length, 1);
    clock += 2 * 60_000; // past it: DNS is asked again, and answers now
    assert.equal((await verifier.verify('66.249.66.1', GOOGLEBOT)).verified, true);
    assert.equal(dns.queries.length, 3);
  });

  test('the cache answers the second time without a DNS query', async () => {
    const dns = await dnsWith(GENUINE);
    const verifier = verifierOn(dns);
    const first = await verifier.verify('66.249.66.1', GOOGLEBOT);
    const asked = dns.queries.length;
    assert.equal(asked, 2);
    const second = await verifier.verify('66.249.66.1', GOOGLEBOT);
    assert.deepEqual(second, first);
    assert.equal(dns.queries.length, asked);
    assert.deepEqual(verifier.stats(), { lookups: 1, cacheHits: 1, sharedLookups: 0, verified: 1, refused: 0, dnsFailures: 0, overloaded: 0, cached: 1 });
  });

  test('a verdict lasts its TTL: verified a day, refused an hour', async () => {
    const dns = await dnsWith({ ...GENUINE, ptr: { ...GENUINE.ptr, '203.0.113.9': ['evil.example'] } });
    let clock = 0;
    const verifier = verifierOn(dns, { now: () => clock });
    await verifier.verify('66.249.66.1', GOOGLEBOT);
    await verifier.verify('203.0.113.9', GOOGLEBOT);
    assert.equal(dns.queries.length, 3);
    clock = 3600_000 - 1;
    await verifier.verify('66.249.66.1', GOOGLEBOT);
    await verifier.verify('203.0.113.9', GOOGLEBOT);
    assert.equal(dns.queries.length, 3);
    clock = 3600_000 + 1; // the refusal expired, the verified one holds
    await verifier.verify('66.249.66.1', GOOGLEBOT);
    await verifier.verify('203.0.113.9', GOOGLEBOT);
    assert.deepEqual(dns.queries.slice(3).map((q) => q.name), ['9.113.0.203.in-addr.arpa']);
    clock = 24 * 3600_000 + 1;
    await verifier.verify('66.249.66.1', GOOGLEBOT);
    assert.deepEqual(dns.queries.slice(4).map((q) => q.type), ['PTR', 'A']);
  });

  test('concurrent verifies of one address share one lookup', async () => {
    const dns = await dnsWith(GENUINE);
    const verifier = verifierOn(dns);
    const verdicts = await Promise.all([1, 2, 3, 4, 5].map(() => verifier.verify('66.249.66.1', GOOGLEBOT)));
    assert.ok(verdicts.every((v) => v.verified));
    assert.deepEqual(dns.queries.map((q) => q.type), ['PTR', 'A']);
    const stats = verifier.stats();
    assert.equal(stats.lookups, 1);
    assert.equal(stats.sharedLookups, 4);
  });

  test('the cache is bounded: the oldest verdict goes first', async () => {
    const dns = await dnsWith({
      ptr: { '192.0.2.1': ['a.example'], '192.0.2.2': ['b.example'], '192.0.2.3': ['c.example'] },
    });
    const verifier = verifierOn(dns, { cacheSize: 2 });
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) await verifier.verify(ip, GOOGLEBOT);
    assert.equal(verifier.stats().cached, 2);
    await verifier.verify('192.0.2.3', GOOGLEBOT); // cached
    await verifier.verify('192.0.2.2', GOOGLEBOT); // cached
    assert.equal(dns.queries.length, 3);
    await verifier.verify('192.0.2.1', GOOGLEBOT); // evicted: asked again
    assert.equal(dns.queries.length, 4);
  });

  test('lookups running at once are capped: one more is refused at once, not queued, and not cached', async () => {
    const dns = await dnsWith(GENUINE);
    dns.silent = true;
    const verifier = verifierOn(dns, { timeoutMs: 300, maxInFlight: 2 });
    const slow = ['192.0.2.1', '192.0.2.2'].map((ip) => verifier.verify(ip, GOOGLEBOT));
    const started = performance.now();
    const third = await verifier.verify('66.249.66.1', GOOGLEBOT);
    assert.ok(performance.now() - started < 100, 'the third verify waited for the others');
    assert.deepEqual(third, { verified: false, crawler: 'Googlebot', reason: '2 crawler verifications already running; not verified this time' });
    await Promise.all(slow);
    assert.equal(verifier.stats().overloaded, 1);
    dns.silent = false;
    assert.equal((await verifier.verify('66.249.66.1', GOOGLEBOT)).verified, true); // the refusal was not cached
  });

  test('options are checked at creation: a bad DNS server or timeout is a coded error', () => {
    assert.throws(() => createCrawlerVerifier({ servers: ['not a server'] }), (err: unknown) => err instanceof IpwatchError && err.code === 'IPWATCH_BAD_OPTION' && /not a server/.test(err.message));
    assert.throws(() => createCrawlerVerifier({ timeoutMs: 0 }), (err: unknown) => err instanceof IpwatchError && err.code === 'IPWATCH_BAD_OPTION' && /timeoutMs/.test(err.message));
  });
});
