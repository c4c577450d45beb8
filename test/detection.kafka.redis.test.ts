/**
 * Attacks detected and stopped end to end, in the distributed mode on real components:
 * HTTP requests from many client addresses (behind a trusted proxy) through an Express app
 * with the emitter -> Kafka -> enricher -> scorer (rules from the rules topic, crawler claims
 * checked against a loopback DNS server) -> blocks topic -> blocksync -> Redis -> the app's
 * block mirror, which answers 403. Each attack is asserted on the detections topic (rule,
 * severity, client, action, evidence) and at the app; ordinary traffic is asserted not to be.
 *
 * "Not detected" needs a point at which the scorer has surely seen the traffic: each innocent
 * client ends with one request from sqlmap's user agent (scanner-user-agent fires on the
 * first). Its requests share a partition, so once that detection is out, anything the earlier
 * requests triggered would have been published before it.
 */
import { describe, beforeAll, afterAll, test, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TOPICS } from '@ipwatch/core/topics';
import { defaultRule, ruleMessage, type Rule } from '@ipwatch/core/rules';
import { SCHEMA_HEADER, type Detection } from '@ipwatch/core/schemas';
import {
  addressPlan, browse, failLogins, feedReader, flood, hit, imageHeavyReader, mostlyErrors, scan, GOOGLEBOT_UA, SENSITIVE_PATHS, SQLMAP_UA,
} from './support/attackTraffic.ts';
import { changedRule, startDetectionRig, type DetectionRig } from './support/detectionRig.ts';

const plan = addressPlan();
const crawler = plan.v4();
const fakeCrawler = plan.v4();
const feedClient = plan.v4();
const dashed = (ip: string) => ip.replace(/\./g, '-');

describe('attacks detected end to end (Kafka, enricher, scorer, blocksync, Redis, the app)', () => {
  jest.setTimeout(60_000);
  let rig: DetectionRig;
  let feed: ReturnType<typeof feedReader>;

  const of = (client: string) => rig.detections.items.filter((d) => d.client === client);
  const rulesOf = (client: string) => of(client).map((d) => d.rule);
  const samples = (d: Detection) => (d.evidence.samples ?? '').split('\n');
  /** Ends a client's traffic with a request scanner-user-agent detects: after it, the scorer has judged everything before. */
  const settled = async (ip: string) => {
    await hit(rig.port, '/', { ip, userAgent: SQLMAP_UA });
    await rig.detection((d) => d.client === ip && d.rule === 'scanner-user-agent');
  };

  beforeAll(async () => {
    rig = await startDetectionRig({
      dns: {
        ptr: { [crawler]: [`crawl-${dashed(crawler)}.googlebot.com`], [fakeCrawler]: [`crawl-${dashed(fakeCrawler)}.googlebot.com.bots.example.net`] },
        a: { [`crawl-${dashed(crawler)}.googlebot.com`]: [crawler], [`crawl-${dashed(fakeCrawler)}.googlebot.com.bots.example.net`]: [fakeCrawler] },
      },
    });
    // Whatever another file left on the shared broker: the rules used here as shipped.
    await rig.resetRules('sensitive-files', 'burst', 'login-failures', 'credential-stuffing', 'account-attack', 'error-ratio', 'scanner-user-agent');
    // A feed reader polls all along, while the attacks go on; judged at the end.
    feed = feedReader(rig.port, feedClient, 10, 2500);
  });

  afterAll(async () => {
    feed?.stop();
    await feed?.done.catch(() => undefined);
    await rig?.close();
  });

  test('a path scanner is detected (sensitive-files, high) and blocked; its neighbour is not', async () => {
    const ip = plan.v4();
    const neighbour = plan.v4();
    const statuses = await scan(rig.port, ip, SENSITIVE_PATHS.slice(0, 3));
    assert.deepEqual(statuses.slice(0, 2), [404, 404], 'nothing there');
    const d = await rig.detection((x) => x.client === ip && x.rule === 'sensitive-files');
    assert.equal(d.ip, ip);
    assert.equal(d.severity, 'high');
    assert.equal(d.mode, 'live');
    assert.equal(d.action, 'block');
    assert.equal(d.count, 2);
    assert.equal(d.threshold, 1);
    assert.equal(d.offence, 1);
    assert.equal(d.evidence.action, `blocked ${ip}`);
    assert.equal(d.evidence.trigger, 'GET /.git/config -> 404');
    assert.deepEqual(samples(d).map((s) => s.replace(/^\d\d:\d\d:\d\d /, '')), ['GET /.env -> 404', 'GET /.git/config -> 404']);
    assert.equal(d.evidence.userAgents, 'curl/8.5.0');
    const block = await rig.blocks.find('the block', (b) => b.key === ip);
    assert.equal(block.source, 'sensitive-files');
    assert.equal(block.createdBy, 'scorer');
    assert.ok(block.expiresAt !== null && Math.abs(block.expiresAt - Date.now() - 3_600_000) < 60_000, 'blocked for an hour (the first step of the ladder)');
    await rig.refused(ip);
    assert.equal(await rig.status(neighbour), 200);
  });

  test('a brute-forcer on one username is detected by login-failures and blocked', async () => {
    const brute = plan.v4();
    // Twelve: the windows slide over fixed buckets, and an attack straddling a bucket's start is
    // estimated a hair low (10.99 for eleven), so the twelfth may be the one that crosses.
    const statuses = await failLogins(rig.port, brute, ['admin'], 12);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    const b = await rig.detection((x) => x.client === brute && x.rule === 'login-failures');
    assert.equal(b.severity, 'medium');
    assert.equal(b.action, 'block');
    assert.ok(b.count === 11 || b.count === 12, `count ${b.count}`);
    assert.equal(b.evidence.usernames, 'admin');
    assert.equal(b.evidence.trigger, 'POST /login -> 401');
    assert.ok(samples(b).length === 10 && samples(b).every((s) => s.endsWith('POST /login -> 401')), b.evidence.samples);
    assert.deepEqual(rulesOf(brute), ['login-failures'], 'one username is no stuffing');
    await rig.refused(brute);
    assert.equal(await rig.status(plan.v4()), 200);
  });

  test('a credential stuffer rotating usernames is detected by credential-stuffing at the fifth username (more than 4), and blocked', async () => {
    const stuffer = plan.v4();
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const statuses = await failLogins(rig.port, stuffer, users);
    assert.deepEqual(statuses.slice(0, 4), Array(4).fill(401));
    const s = await rig.detection((x) => x.client === stuffer && x.rule === 'credential-stuffing');
    assert.equal(s.severity, 'high');
    assert.equal(s.action, 'block');
    assert.deepEqual(rulesOf(stuffer), ['credential-stuffing'], 'five failures are no brute force');
    await rig.refused(stuffer);
    // "More than 4 usernames": the detection comes with the fifth, and its evidence names all five.
    assert.deepEqual(s.evidence.usernames?.split('\n'), users, `detected after ${s.evidence.usernames?.split('\n').length} usernames`);
    assert.equal(s.count, 5);
  });

  test('one account attacked from many addresses is detected by account-attack (flagged, every client still served); set to block, the next client taking part is refused', async () => {
    const v6 = plan.v6Net();
    const clients = [plan.v4(), plan.v4(), v6.addr(1), plan.v4(), plan.v4(), plan.v4()];
    // One failure each: every client stays far under login-failures and credential-stuffing.
    for (const ip of clients) assert.deepEqual(await failLogins(rig.port, ip, ['Frank']), [401]);
    const a = await rig.detection((x) => x.rule === 'account-attack' && x.evidence.account === 'frank');
    assert.equal(a.severity, 'high');
    assert.equal(a.action, 'alert');
    assert.equal(a.count, 6);
    assert.deepEqual(a.evidence.clients?.split('\n').sort(), clients.map((ip) => (ip === v6.addr(1) ? v6.net : ip)).sort());
    assert.match(a.evidence.summary ?? '', /^failed logins for one username \(from 6 clients\): 6 in 10m \(more than 5\)$/);
    for (const ip of clients) assert.equal(await rig.status(ip), 200, `${ip} is flagged with the account, not blocked`);
    assert.deepEqual([...clients, v6.net].flatMap((ip) => rulesOf(ip)).filter((r) => r !== 'account-attack'), [], 'no client rule fired');

    await rig.setRule(changedRule('account-attack', { autoBlock: true, escalation: [3_600_000] }));
    const late = plan.v4();
    // The account is still over its threshold (counts kept across the change), so this client's failure is detected and blocked.
    assert.deepEqual(await failLogins(rig.port, late, ['frank']), [401]);
    const b = await rig.detection((x) => x.rule === 'account-attack' && x.client === late);
    assert.equal(b.action, 'block');
    await rig.refused(late);
    await rig.resetRules('account-attack');
  });

  test('a flooder (more than 50 pages in 10 s) is detected by burst and blocked', async () => {
    const ip = plan.v4();
    const t0 = Date.now();
    // 60: a flood straddling the start of a 10 s bucket is estimated a little low (a sliding window over two buckets).
    const statuses = await flood(rig.port, ip, 60);
    assert.ok(Date.now() - t0 < 5000, 'the flood took well under the window');
    assert.deepEqual(statuses.slice(0, 50), Array(50).fill(200));
    const d = await rig.detection((x) => x.client === ip && x.rule === 'burst');
    assert.equal(d.severity, 'high');
    assert.equal(d.action, 'block');
    assert.ok(d.count >= 51 && d.count <= 60, `count ${d.count}`);
    assert.match(d.evidence.summary ?? '', new RegExp(`^page requests: ${d.count} in 10s \\(more than 50\\)$`));
    assert.ok(samples(d).length === 10 && samples(d).every((x) => / GET \/article\/\d+\?ref=\d -> 200$/.test(x)), d.evidence.samples);
    assert.match(d.evidence.userAgents ?? '', /python-requests/);
    await rig.refused(ip);
    assert.equal(await rig.status(plan.v4()), 200);
  });

  test('a client whose requests mostly fail is flagged by error-ratio, not blocked: still served after', async () => {
    const ip = plan.v4();
    const statuses = await mostlyErrors(rig.port, ip, 24, 16);
    assert.equal(statuses.filter((s) => s === 500).length, 16);
    const d = await rig.detection((x) => x.client === ip && x.rule === 'error-ratio');
    assert.equal(d.severity, 'medium');
    assert.equal(d.mode, 'live');
    assert.equal(d.action, 'alert');
    assert.equal(d.evidence.action, 'flagged');
    assert.equal(d.blockExpiresAt, null);
    // The 20th request is the first judged (minRequests 20): 13 of 20 failed, 65%.
    assert.ok(d.count > 50 && d.count <= 70, `error share ${d.count}%`);
    assert.match(d.evidence.trigger ?? '', /^GET \/(broken\?attempt=\d+ -> 500|article\/\d+ -> 200)$/);
    assert.ok(samples(d).some((x) => x.endsWith(d.evidence.trigger!)), d.evidence.samples);
    assert.deepEqual(rulesOf(ip), ['error-ratio']);
    // Another client's block, decided after the flag, reaches the app: had the flag made one, it would be there too.
    const other = plan.v4();
    await scan(rig.port, other, SENSITIVE_PATHS.slice(0, 2));
    await rig.refused(other);
    assert.equal(await rig.status(ip), 200);
    assert.equal(await rig.status(ip, '/broken'), 500);
    assert.ok(!rig.blocks.items.some((b) => b.key === ip), 'no block for a flagged client');
  });

  test('a scanner rotating addresses inside one IPv6 /64 is one client: detected once, and the whole /64 refused', async () => {
    const { net, addr } = plan.v6Net();
    const used = [addr(1), addr(2), addr(3), addr(4)];
    await scan(rig.port, used, SENSITIVE_PATHS.slice(0, 4));
    const d = await rig.detection((x) => x.client === net && x.rule === 'sensitive-files');
    // Its addresses are keys of their own, on either partition, scored in no fixed order across
    // them: whichever request was scored second crossed the threshold.
    assert.ok(used.includes(d.ip), `the address of the request that crossed the threshold: ${d.ip}`);
    assert.equal(d.evidence.scoredAs, `network ${net}`);
    assert.equal(d.action, 'block');
    const scanned = SENSITIVE_PATHS.slice(0, 4).map((p) => `GET ${p} -> 404`);
    const sampled = samples(d).map((s) => s.replace(/^\d\d:\d\d:\d\d /, ''));
    assert.ok(sampled.length === 2 && sampled.every((s) => scanned.includes(s)), d.evidence.samples);
    const block = await rig.blocks.find('the /64 block', (b) => b.key === net);
    assert.equal(block.target, net);
    await rig.refused(addr(0xbeef), 5000);
    await rig.refused(used[0]!);
    assert.equal(of(net).filter((x) => x.rule === 'sensitive-files').length, 1, 'one detection for the /64');
    assert.ok(!rig.detections.items.some((x) => used.includes(x.client)), 'no detection per address');
    assert.equal(await rig.status(plan.v6Net().addr(1)), 200, 'another /64 is someone else');
  });

  test('ordinary visitors, an image-heavy reader, a feed reader and a verified Googlebot are not detected; a fake Googlebot is', async () => {
    const visitors = Array.from({ length: 12 }, () => plan.v4());
    const reader = plan.v4();
    const [visits, images, crawled, faked] = await Promise.all([
      Promise.all(visitors.map((ip) => browse(rig.port, ip, 3))),
      imageHeavyReader(rig.port, reader, 3, 40),
      flood(rig.port, crawler, 60, { userAgent: GOOGLEBOT_UA, width: 4 }),
      flood(rig.port, fakeCrawler, 60, { userAgent: GOOGLEBOT_UA, width: 4 }),
    ]);
    assert.ok(visits.flat().every((s) => s === 200));
    assert.equal(images.length, 123);
    assert.ok(images.every((s) => s === 200));
    assert.deepEqual(crawled, Array(60).fill(200));
    // Burst's threshold is 50: at least 50 were served before the block. Requests go out 4 at a
    // time, so a few sent before the 51st can still be answered after its block arrived.
    const why = JSON.stringify([faked, of(fakeCrawler), rig.blocks.items.filter((b) => b.key === fakeCrawler || b.key.includes('/'))]);
    assert.deepEqual(faked.slice(0, 46), Array(46).fill(200), why);
    assert.ok(faked.filter((s) => s === 200).length >= 50, why);

    const fake = await rig.detection((x) => x.client === fakeCrawler && x.rule === 'burst');
    assert.equal(fake.action, 'block');
    assert.match(fake.evidence.crawlerClaim ?? '', /^claims Googlebot, not verified: /);
    assert.ok(fake.evidence.crawlerClaim!.includes(`crawl-${dashed(fakeCrawler)}.googlebot.com.bots.example.net`), fake.evidence.crawlerClaim);
    await rig.refused(fakeCrawler);

    const polls = await feed.done;
    assert.deepEqual(polls, Array(10).fill(200), 'the feed reader was served throughout');

    const innocent = [...visitors, reader, crawler, feedClient];
    await Promise.all(innocent.map(settled));
    for (const ip of innocent) assert.deepEqual(rulesOf(ip), ['scanner-user-agent'], `nothing but the final sqlmap request for ${ip}`);
    // The real Googlebot went past burst's threshold: it was checked by DNS, and let through.
    assert.ok(rig.dns.queries.some((q) => q.type === 'PTR' && q.name.startsWith(crawler.split('.').reverse().join('.'))), 'the crawler claim was checked');
    assert.match(await rig.scorerMetrics().text(), /^ipwatch_scorer_suppressed_total\{[^}]*reason="verified_crawler"[^}]*\} [1-9]/m);
  });

  test('a dry-run rule records without blocking; a live change of a threshold applies within a second, counts kept', async () => {
    try {
      await rig.setRule(changedRule('sensitive-files', { mode: 'dry_run' }));
      const dry = plan.v4();
      assert.deepEqual(await scan(rig.port, dry, SENSITIVE_PATHS.slice(0, 3)), [404, 404, 404]);
      const d = await rig.detection((x) => x.client === dry && x.rule === 'sensitive-files');
      assert.equal(d.mode, 'dry_run');
      assert.equal(d.action, 'none');
      assert.match(d.evidence.action ?? '', /^dry run \(records; would block 1h, then 4h, then 1d, then 7d\)$/);
      assert.equal(await rig.status(dry), 200);

      // Eight pages in a second or two, far under burst's 50; then two sensitive files, which the
      // dry run records: once that detection is out, the scorer has counted the eight pages.
      const slow = plan.v4();
      assert.deepEqual(await flood(rig.port, slow, 8, { width: 1 }), Array(8).fill(200));
      await scan(rig.port, slow, SENSITIVE_PATHS.slice(0, 2));
      assert.equal((await rig.detection((x) => x.client === slow && x.rule === 'sensitive-files')).mode, 'dry_run');
      const tookMs = await rig.setRule(changedRule('burst', { threshold: 5 }));
      assert.ok(tookMs < 1000, `the scorer evaluated the new threshold ${tookMs} ms after it was written`);
      // The next page crosses the new threshold: the ten pages before it were still counted.
      await hit(rig.port, '/article/9', { ip: slow });
      const b = await rig.detection((x) => x.client === slow && x.rule === 'burst');
      assert.equal(b.threshold, 5);
      assert.ok(b.count > 5 && b.count <= 11, `count ${b.count}`);
      assert.equal(b.evidence.trigger, 'GET /article/9 -> 200');
      await rig.refused(slow);

      // Its block reached the app; the dry run's never existed.
      assert.equal(await rig.status(dry), 200);
      assert.ok(!rig.blocks.items.some((x) => x.key === dry));
      assert.deepEqual(rulesOf(dry), ['sensitive-files']);
      assert.deepEqual(rulesOf(slow), ['sensitive-files', 'burst']);
    } finally {
      await rig.resetRules('sensitive-files', 'burst');
    }
  });

  test('poison on the rules topic goes to the DLQ; the other rules, and a rule written after it, keep working', async () => {
    const token = randomBytes(4).toString('hex');
    const garbageKey = `e2e-garbage-${token}`;
    const invalid: Rule = { ...(defaultRule('burst') as Rule), id: `e2e-invalid-${token}`, windowMs: 10, updatedAt: Date.now(), updatedBy: 'detection-test' };
    const canary: Rule = {
      ...(defaultRule('sensitive-files') as Rule),
      id: `e2e-canary-${token}`,
      description: 'a test rule written after the poison',
      severity: 'critical',
      threshold: 0,
      escalation: [],
      blockForMs: 120_000,
      params: { field: 'path', patterns: `^/canary-${token}$` },
      updatedAt: Date.now(),
      updatedBy: 'detection-test',
    };
    try {
      await rig.log.produce(TOPICS.rules, [{ key: garbageKey, value: Buffer.from(`not a rule ${token}`), headers: { [SCHEMA_HEADER]: 'Rule' } }, ruleMessage(invalid)]);
      await rig.setRule(canary);

      const garbage = await rig.dlq.find('the undecodable record in the DLQ', (m) => m.key === garbageKey);
      assert.equal(garbage.headers['ipwatch-source-topic'], TOPICS.rules);
      assert.equal(garbage.value?.toString(), `not a rule ${token}`);
      assert.match(garbage.headers['ipwatch-error'] ?? '', /Rule/);
      const bad = await rig.dlq.find('the invalid rule in the DLQ', (m) => m.key === invalid.id);
      assert.equal(bad.headers['ipwatch-source-topic'], TOPICS.rules);
      assert.match(bad.headers['ipwatch-error'] ?? '', /the window must be from 1s to 7d \(got 10 ms\)/);
      const ids = rig.scorer().scorer.engine.rules().map((r) => r.id);
      assert.ok(!ids.includes(invalid.id) && !ids.includes(garbageKey), 'neither is evaluated');

      // The rule written after the poison works,
      const ip = plan.v4();
      await hit(rig.port, `/canary-${token}`, { ip });
      const d = await rig.detection((x) => x.client === ip && x.rule === canary.id);
      assert.equal(d.severity, 'critical');
      assert.equal(d.action, 'block');
      await rig.refused(ip);
      // and so do the others.
      const scanner = plan.v4();
      await scan(rig.port, scanner, SENSITIVE_PATHS.slice(0, 2));
      const s = await rig.detection((x) => x.client === scanner && x.rule === 'sensitive-files');
      assert.equal(s.mode, 'live');
      await rig.refused(scanner);
    } finally {
      await rig.resetRules(canary.id);
    }
  });
});
