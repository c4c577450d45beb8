/** The client analysis on real chDB: every figure counted from the fixture, neighbours and rows outside the hours left out, IPv6 per /64. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { FIXTURE, fixtureNow, insertClientFixture } from './clientAnalysis.fixture.ts';
import type { Analytics } from '../analytics.ts';

const H = 3_600_000;
const now = fixtureNow();
let ready: Promise<Analytics> | undefined;
const analytics = () => (ready ??= testAnalytics().then(async (a) => (await insertClientFixture(a, now), a)));

test('an IPv4 client: traffic, hours with zeros, error rate, geolocation, paths, agents, logins, limits, detections, block history', async () => {
  const a = await (await analytics()).clientAnalysis({ ip: FIXTURE.ip, hours: 3, now });
  const h0 = Math.floor(now / H) * H - 2 * H;
  assert.deepEqual(a.scope, { kind: 'address', client: FIXTURE.ip });
  assert.deepEqual(a.range, { since: h0, until: h0 + 3 * H, hours: 3 });
  assert.equal(a.traffic.requests, 10);
  assert.equal(a.traffic.requestsFromAddress, 10);
  assert.equal(a.traffic.errors, 7);
  assert.equal(a.traffic.errorRate, 0.7);
  assert.deepEqual(a.traffic.statusClasses, { '1xx': 0, '2xx': 3, '3xx': 0, '4xx': 6, '5xx': 1 });
  assert.equal(a.traffic.firstSeen, h0 + 10 * 60_000);
  assert.equal(a.traffic.lastSeen, h0 + 2 * H + 10 * 60_000);
  assert.deepEqual(a.hourly, [{ hour: h0, requests: 4, errors: 3 }, { hour: h0 + H, requests: 0, errors: 0 }, { hour: h0 + 2 * H, requests: 6, errors: 4 }]);
  // The latest request had no geolocation: the one before it did.
  assert.deepEqual(a.geo, { country: 'DE', region: 'BE', city: 'Berlin', asn: 3320, org: 'Deutsche Telekom AG', seenAt: h0 + 2 * H + 9 * 60_000 });
  assert.deepEqual(a.topPaths.slice(0, 3), [{ path: '/login', requests: 3, errors: 2 }, { path: '/.env', requests: 2, errors: 2 }, { path: '/wp-login.php', requests: 2, errors: 1 }]);
  assert.equal(a.topPaths.length, 6);
  assert.deepEqual(a.userAgents, [{ userAgent: 'curl/8.5', requests: 5 }, { userAgent: 'Mozilla/5.0', requests: 4 }, { userAgent: FIXTURE.hostileUserAgent, requests: 1 }]);
  assert.deepEqual(a.logins, { failed: 2, succeeded: 1, distinctUsernames: 2, usernames: [{ username: 'admin', failed: 1 }, { username: 'root', failed: 1 }] });
  assert.deepEqual(a.rateLimits.byRule.map((r) => [r.rule, r.refusals, r.events, r.limit]), [['login', 5, 2, 3], ['anonymous', 1, 1, 5]]);
  assert.equal(a.rateLimits.refusals, 6);
  assert.equal(a.detections.total, 1);
  const [d] = a.detections.rows;
  assert.equal(d?.rule, 'sensitive-files');
  assert.equal(d?.client, FIXTURE.ip);
  assert.equal(d?.ip, FIXTURE.ip);
  assert.deepEqual(d?.evidence, { paths: '/.env', requests: '2' });
  assert.equal(d?.blockExpiresAt, now + 6 * H);
  assert.deepEqual([d?.action, d?.mode, d?.count, d?.threshold], ['block', 'live', 2, 1]);
  // The address itself and the /24 holding it (blocked, then unblocked), newest first; not the neighbour, not 198.51.101.0/24.
  // (Rows the store may add itself for a blocking detection are the address's too: only the order of these is asserted.)
  const history = a.blockHistory.rows.map((r) => `${r.action} ${r.target} ${r.actor}`);
  const expected = [`block ${FIXTURE.ip} scorer-api`, 'unblock 198.51.100.0/24 alice', 'block 198.51.100.0/24 alice'];
  assert.deepEqual(history.filter((h) => expected.includes(h)), expected, history.join('\n'));
  assert.ok(a.blockHistory.rows.every((r) => r.target === FIXTURE.ip || r.target === '198.51.100.0/24'), history.join('\n'));
  assert.equal(a.blockHistory.truncated, false);
});

test('sensitive paths: matched with the rules\' own patterns, the query dropped and percent-escapes decoded, cms-probe only on 4xx', async () => {
  const { sensitivePaths: s } = await (await analytics()).clientAnalysis({ ip: FIXTURE.ip, hours: 3, now });
  assert.deepEqual(s.rules, ['sensitive-paths', 'sensitive-files', 'cms-probe']);
  assert.equal(s.pathsExamined, 6);
  assert.equal(s.truncated, false);
  assert.deepEqual(s.paths, [
    { path: '/.env', requests: 2, rules: ['sensitive-paths', 'sensitive-files'] },
    { path: '/%2Eenv?x=1', requests: 1, rules: ['sensitive-paths', 'sensitive-files'] },
    { path: '/wp-login.php', requests: 1, rules: ['cms-probe'] },
  ]);
  assert.deepEqual(s.byRule, [{ rule: 'sensitive-paths', requests: 3, paths: 2 }, { rule: 'sensitive-files', requests: 3, paths: 2 }, { rule: 'cms-probe', requests: 1, paths: 1 }]);
  assert.equal(s.requests, 4);
  // /login is not one of them (the login rules count logins), /index.html never was.
  assert.ok(!s.paths.some((p) => p.path === '/login' || p.path === '/index.html'));
});

test('an IPv6 client is its /64: both addresses counted, the other /64 not; detections and blocks of the /64 and inside it', async () => {
  const store = await analytics();
  const a = await store.clientAnalysis({ ip: FIXTURE.ip6, hours: 3, now });
  assert.deepEqual(a.scope, { kind: 'network/64', client: FIXTURE.net6 });
  assert.equal(a.traffic.requests, 3);
  assert.equal(a.traffic.requestsFromAddress, 2);
  assert.equal(a.traffic.addresses, 2);
  assert.equal(a.geo, null);
  assert.deepEqual(a.sensitivePaths.paths, [{ path: '/admin', requests: 1, rules: ['sensitive-paths'] }]);
  assert.deepEqual(a.detections.rows.map((d) => [d.rule, d.client, d.ip]), [['burst', FIXTURE.net6, FIXTURE.ip6Sibling]]);
  const targets = a.blockHistory.rows.map((r) => `${r.target} ${r.actor}`);
  assert.deepEqual(targets.filter((t) => t.endsWith(' bob') || t === `${FIXTURE.net6} scorer-api`), [`${FIXTURE.ip6Sibling} bob`, `${FIXTURE.net6} scorer-api`]);
  assert.ok(a.blockHistory.rows.every((r) => r.target === FIXTURE.ip6Sibling || r.target === FIXTURE.net6), targets.join('\n'));
  // The same client asked by its other address, or written another way.
  const sibling = await store.clientAnalysis({ ip: '2001:DB8:1:2:0:0:0:20', hours: 3, now });
  assert.equal(sibling.ip, FIXTURE.ip6Sibling);
  assert.equal(sibling.traffic.requests, 3);
  assert.equal(sibling.traffic.requestsFromAddress, 1);
});

test('the evidence of a rule\'s block: the latest blocking detection of that rule for the target', async () => {
  const store = await analytics();
  const d = await store.latestBlockingDetection({ client: FIXTURE.ip, rule: 'sensitive-files' });
  assert.equal(d?.id, 'fixture-d-files');
  assert.equal((await store.latestBlockingDetection({ client: FIXTURE.net6, rule: 'burst' }))?.id, 'fixture-d-v6');
  assert.equal(await store.latestBlockingDetection({ client: FIXTURE.ip, rule: 'burst' }), null);
});

test('an hour range outside 1..720 or something other than one address is refused, coded', async () => {
  const store = await analytics();
  await assert.rejects(store.clientAnalysis({ ip: FIXTURE.ip, hours: 0, now }), { code: 'IPWATCH_BAD_FILTER' });
  await assert.rejects(store.clientAnalysis({ ip: FIXTURE.ip, hours: 721, now }), { code: 'IPWATCH_BAD_FILTER' });
  for (const ip of ['198.51.100.0/24', '198.51.100.23:80', "1' OR 1=1", '[2001:db8::1]', 'fe80::1%eth0', '']) {
    await assert.rejects(store.clientAnalysis({ ip, hours: 3, now }), { code: 'IPWATCH_INVALID_ADDRESS' }, ip);
  }
  // An empty hour range of a client never seen: zeros, not errors.
  const quiet = await store.clientAnalysis({ ip: '192.0.2.200', hours: 1, now });
  assert.equal(quiet.traffic.requests, 0);
  assert.equal(quiet.traffic.errorRate, null);
  assert.equal(quiet.traffic.firstSeen, null);
  assert.deepEqual(quiet.hourly.map((h) => h.requests), [0]);
});

test('an account rule\'s detection shows for every client that took part, not only the one that crossed', async () => {
  const store = await analytics();
  const ts = now - 20 * 60_000;
  const row = ['acct-1', ts, '::ffff:203.0.113.9', '203.0.113.9', 'account-attack', 'high', 'live', 6, 6, 5, ts - 10 * 60_000, ts, { account: 'frank', clients: '203.0.113.7\n2001:db8:9:9::/64\n203.0.113.9' }, 'alert', null, 0, 'acct', 0, 1];
  await store.insertStreamRows({
    table: 'detections',
    columns: ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [row],
    deduplicationToken: `acct-${now}`,
  });
  const rulesOf = async (ip: string) => (await store.clientAnalysis({ ip, hours: 3, now })).detections.rows.map((d) => d.rule);
  assert.deepEqual(await rulesOf('203.0.113.7'), ['account-attack']);
  assert.deepEqual(await rulesOf('2001:db8:9:9::1'), ['account-attack'], 'an IPv6 client by its /64');
  assert.deepEqual(await rulesOf('203.0.113.8'), [], 'a client that did not take part');
});
