/**
 * Enforcement across app instances, on real components: a Kafka broker, a redis-server of
 * this test's own (stopped and started again mid-test), chDB for the audit trail, the api
 * and blocksync in this process, the `ipwatch` CLI as a user runs it, and two app
 * processes with the emitter.
 */
import { describe, beforeAll, afterAll, test, jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { topicSpecs } from '@ipwatch/core/topics';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import type { EventLog } from '@ipwatch/core/eventLog';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { createHealth } from '@ipwatch/core/observability/health';
import type { ServiceContext } from '@ipwatch/core/service';
import { createBlocksync, type Blocksync } from '@ipwatch/blocksync';
import { startApiService, type ApiService } from '@ipwatch/api';
import { listBlockEvents } from '@ipwatch/store';
import { createClickhouseSink } from '@ipwatch/sink';
import { codecs } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { testAnalytics } from './support/analytics.ts';
import { kafkaBrokers, uniqueName } from './support/components.ts';
import { startRedisServer, type TestRedis } from './support/redisServer.ts';
import { startAppProcess, call, eventually, type AppProcess } from './support/appProcess.ts';
import { runCli, tempDir } from './support/cli.ts';

describe('enforcement across two app instances', () => {
  jest.setTimeout(300_000);
  let redis: TestRedis;
  let log: EventLog;
  let lists: SharedLists;
  let sync: Blocksync;
  let api: ApiService;
  let apps: AppProcess[] = [];
  let cliEnv: Record<string, string>;
  const warnings: string[] = [];

  const cli = async (...args: string[]) => {
    const r = await runCli(args, cliEnv, tempDir('ipwatch-cli'));
    return r;
  };
  const statusAt = async (app: AppProcess, ip: string, path = '/hello') => (await call(app.port, path, { xff: ip })).status;
  const everywhere = (what: string, ip: string, status: number, timeoutMs = 3000) =>
    Promise.all(apps.map((a, i) => eventually(`${what} at app ${i + 1}`, async () => (await statusAt(a, ip)) === status, timeoutMs)));

  beforeAll(async () => {
    redis = await startRedisServer();
    const brokers = kafkaBrokers();
    log = createKafkaEventLog({ brokers, clientId: uniqueName('enforcement'), logLevel: 'nothing' });
    await log.ensureTopics(topicSpecs(2));
    const config = loadConfig({ IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_REDIS_URL: redis.url, IPWATCH_API_PORT: '0' }, tempDir('ipwatch-enf'));
    const ctx: ServiceContext = { config, log, health: createHealth(), metrics: (s) => createMetrics(s), warn: (m) => void warnings.push(m) };
    lists = createRedisSharedLists(redis.url, { name: 'test-blocksync' });
    sync = createBlocksync({ log, lists, metrics: createMetrics('blocksync'), warn: (m) => void warnings.push(m), retryMs: 50 });
    await sync.ready;
    api = await startApiService(ctx, await testAnalytics());
    cliEnv = { IPWATCH_API_PORT: String(api.port) };
    const appEnv = { IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_REDIS_URL: redis.url };
    apps = await Promise.all([startAppProcess(appEnv), startAppProcess(appEnv)]);
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await api?.stop();
    await sync?.stop();
    await lists?.close();
    await log?.close();
    await redis?.close();
  });

  test('a block made with the CLI is enforced by both apps, logged in block_events, and lifted by unblock', async () => {
    await everywhere('not blocked yet', '203.0.113.7', 200);
    const r = await cli('block', '203.0.113.7', '--reason', 'credential stuffing', '--expires', '+7d');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /blocked 203\.0\.113\.7 \(expires in (6d 23h|7d 0h); credential stuffing\)/);
    await everywhere('blocked', '203.0.113.7', 403);
    const answer = await call(apps[0]!.port, '/hello', { xff: '203.0.113.7', accept: 'application/json' });
    assert.deepEqual(JSON.parse(answer.body), { error: 'forbidden' });
    // a neighbour is not blocked
    assert.equal(await statusAt(apps[0]!, '203.0.113.8'), 200);

    const listed = await cli('blocks', '--json');
    const rows = JSON.parse(listed.stdout) as Array<{ target: string; reason: string; timeLeftMs: number }>;
    const row = rows.find((b) => b.target === '203.0.113.7');
    assert.ok(row && row.reason === 'credential stuffing' && row.timeLeftMs > 6 * 86_400_000);

    const un = await cli('unblock', '203.0.113.7');
    assert.equal(un.code, 0, un.stderr);
    await everywhere('unblocked', '203.0.113.7', 200);

    const audit = await listBlockEvents(await testAnalytics(), { target: '203.0.113.7' });
    assert.deepEqual(audit.map((e) => e.action), ['unblock', 'block']);
    // The actor is who the api authenticated (local: loopback, no token); the CLI's user@host is a labelled note.
    assert.deepEqual(audit.map((e) => e.actor), ['local', 'local']);
    assert.match(audit[1]!.note ?? '', /^stated by caller: .+@/);
  });

  test('an expiry lifts a block on time, without an unblock', async () => {
    const soon = new Date(Date.now() + 2500).toISOString();
    const r = await cli('block', '203.0.113.20', '--expires', soon);
    assert.equal(r.code, 0, r.stderr);
    await everywhere('blocked', '203.0.113.20', 403);
    await everywhere('expired', '203.0.113.20', 200, 5000);
  });

  test('a CIDR block catches addresses inside it, IPv4 and IPv6; the allowlist wins over it', async () => {
    assert.equal((await cli('block', '198.51.100.0/24')).code, 0);
    assert.equal((await cli('block', '2001:db8:bad::/48')).code, 0);
    await everywhere('v4 range blocked', '198.51.100.77', 403);
    await everywhere('v6 range blocked', '2001:db8:bad:1::5', 403);
    assert.equal(await statusAt(apps[1]!, '198.51.101.1'), 200);
    assert.equal(await statusAt(apps[1]!, '2001:db8:bad0::1'), 200);

    const covering = JSON.parse((await cli('blocks', '--covers', '198.51.100.77', '--json')).stdout) as Array<{ target: string }>;
    assert.deepEqual(covering.map((b) => b.target), ['198.51.100.0/24'], 'which entry blocks an address');

    const allow = await cli('allow', '198.51.100.10', '--reason', 'office');
    assert.equal(allow.code, 0, allow.stderr);
    await everywhere('allowlisted inside a blocked range', '198.51.100.10', 200);
    assert.equal(await statusAt(apps[0]!, '198.51.100.11'), 403);
    const allowList = JSON.parse((await cli('allow', '--list', '--json')).stdout) as Array<{ target: string }>;
    assert.ok(allowList.some((a) => a.target === '198.51.100.10'));
  });

  test('a spoofed X-Forwarded-For from an untrusted peer changes nothing', async () => {
    // 127.0.0.2 is not a trusted proxy: its header is ignored and it is judged by its own address.
    assert.equal((await cli('block', '127.0.0.2')).code, 0);
    await eventually('untrusted peer blocked', async () => (await call(apps[0]!.port, '/hello', { from: '127.0.0.2' })).status === 403);
    for (const app of apps) {
      assert.equal((await call(app.port, '/hello', { from: '127.0.0.2', xff: '198.51.100.10' })).status, 403, 'claiming an allowlisted address');
      assert.equal((await call(app.port, '/hello', { from: '127.0.0.2', xff: '8.8.8.8' })).status, 403, 'claiming an innocent address');
    }
    // and it cannot shift a block onto someone else either
    assert.equal((await call(apps[0]!.port, '/hello', { from: '127.0.0.1', xff: '127.0.0.3' })).status, 200);
  });

  test('rotating addresses inside one IPv6 /64 does not escape a limit, across both apps', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) statuses.push((await call(apps[i % 2]!.port, '/search', { xff: `2001:db8:77:1::${i.toString(16)}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = await call(apps[0]!.port, '/search', { xff: '2001:db8:77:1:ffff::1' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After');
    assert.match(String(limited.headers['ratelimit-policy']), /q=5;\s*w=60/);
    assert.match(String(limited.headers['ratelimit']), /r=0/);
    // the next /64 is someone else
    assert.equal((await call(apps[0]!.port, '/search', { xff: '2001:db8:77:2::1' })).status, 200);
  });

  test('the login limit holds per username across IPs', async () => {
    const user = uniqueName('mallory');
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push((await call(apps[i % 2]!.port, '/login', { xff: `192.0.2.${100 + i}`, json: { username: user, password: 'x' } })).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    // another username from a fresh address is not affected
    assert.equal((await call(apps[0]!.port, '/login', { xff: '192.0.2.200', json: { username: uniqueName('bob'), password: 'x' } })).status, 401);
  });

  test('with Redis down requests are served, blocks still enforced, the fallback limiter applies; all recovers', async () => {
    assert.equal((await cli('block', '203.0.113.66')).code, 0);
    await everywhere('blocked before the outage', '203.0.113.66', 403);
    await redis.stop();
    type State = { mirror: { stale: boolean; connected: boolean }; limiter: { store: { using: 'primary' | 'fallback' } } };
    const state = async (app: AppProcess) => JSON.parse((await call(app.port, '/__state')).body) as State;
    await eventually('mirrors say they are stale', async () => (await Promise.all(apps.map(state))).every((s) => s.mirror.stale), 5000);

    for (const app of apps) {
      const t0 = Date.now();
      assert.equal(await statusAt(app, '8.8.4.4'), 200);
      assert.ok(Date.now() - t0 < 2000, 'served promptly');
      assert.equal(await statusAt(app, '203.0.113.66'), 403, 'the last blocks still apply');
    }
    // the per-process fallback limiter: 5 a minute on /search per app process
    const fallback: number[] = [];
    for (let i = 0; i < 6; i++) fallback.push((await call(apps[0]!.port, '/search', { xff: '203.0.113.150' })).status);
    assert.deepEqual(fallback, [200, 200, 200, 200, 200, 429]);
    assert.equal((await state(apps[0]!)).limiter.store.using, 'fallback');
    // and says so in its metrics
    const metrics = (await call(apps[0]!.port, '/__metrics')).body;
    assert.match(metrics, /^ipwatch_block_mirror_stale\{[^}]*\} 1$/m);
    assert.match(metrics, /^ipwatch_ratelimit_fallback\{[^}]*\} 1$/m);
    assert.match(metrics, /^ipwatch_enforced_requests_total\{[^}]*by="blocked"[^}]*\} [1-9]/m);

    await redis.start();
    await eventually('mirrors in sync again', async () => (await Promise.all(apps.map(state))).every((s) => !s.mirror.stale && s.mirror.connected), 10_000);
    // blocksync rewrote the lists into the empty Redis: the old block is still there, and new ones arrive
    await everywhere('old block after recovery', '203.0.113.66', 403);
    assert.equal((await cli('block', '203.0.113.67')).code, 0);
    await everywhere('new block after recovery', '203.0.113.67', 403);
    // the limiters go back to Redis at their next try (a request, at most once a second)
    await eventually('limiters back on Redis', async () => {
      await Promise.all(apps.map((a) => statusAt(a, '8.8.4.4')));
      return (await Promise.all(apps.map(state))).every((s) => s.limiter.store.using === 'primary');
    }, 10_000);
    // and count there, shared again: a fresh client gets its 5 across both apps
    const after: number[] = [];
    for (let i = 0; i < 6; i++) after.push((await call(apps[i % 2]!.port, '/search', { xff: '203.0.113.151' })).status);
    assert.deepEqual(after, [200, 200, 200, 200, 200, 429]);
  });

  test('blocked and limited requests are logged as such; limit hits land in rate_limit_events, folded', async () => {
    const analytics = await testAnalytics();
    const sink = createClickhouseSink({ log, analytics, metrics: createMetrics('enf-sink'), batchSize: 1000, flushMs: 100, groupId: uniqueName('enf-sink') });
    await sink.start();
    const seen: LogMessage[] = [];
    const consumer = await log.consume({ groupId: uniqueName('enf-requests'), topics: [TOPICS.requests], handle: async (b) => void seen.push(...b.messages) });
    try {
      assert.equal((await cli('block', '203.0.113.200')).code, 0);
      await everywhere('blocked', '203.0.113.200', 403);
      const flood: number[] = [];
      for (let i = 0; i < 30; i++) flood.push((await call(apps[0]!.port, '/search', { xff: '203.0.113.201' })).status);
      assert.equal(flood.filter((s) => s === 429).length, 25);

      await eventually('events on Kafka', () => {
        const events = seen.map((m) => codecs.RequestEvent.decode(m.value!));
        return events.some((e) => e.ip === '203.0.113.200' && e.blocked && e.status === 403) && events.filter((e) => e.ip === '203.0.113.201' && e.rateLimited && e.status === 429).length === 25;
      }, 15_000);
      // 25 refusals within a second or two: folded into a few events, not 25
      let rows: Array<{ n: number; total: number }> = [];
      await eventually('rate_limit_events rows', async () => {
        const rs = await analytics.client.query({
          query: "SELECT count() AS n, sum(count) AS total FROM rate_limit_events WHERE ip = toIPv6('::ffff:203.0.113.201') AND rule = 'search'",
          format: 'JSONEachRow',
          clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
        });
        rows = await rs.json();
        return Number(rows[0]?.total ?? 0) === 25;
      }, 15_000);
      assert.ok(Number(rows[0]!.n) <= 5, `folded into ${rows[0]!.n} events`);
    } finally {
      await consumer.stop();
      await sink.stop();
    }
  });

  test('a block list imported from a file is enforced everywhere; a file with a bad line is refused whole', async () => {
    const dir = tempDir('ipwatch-import');
    const good = join(dir, 'blocklist.txt');
    writeFileSync(good, '# from a feed\n203.0.113.210\n\n198.18.0.0/15   # benchmark range\n2001:db8:f00d::/48\n');
    // 198.18.0.0/15 is wider than the /16 a block may cover unforced.
    const r = await cli('block', '--from-file', good, '--reason', 'feed', '--expires', '+1d', '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 3 blocks/);
    await everywhere('imported address', '203.0.113.210', 403);
    await everywhere('imported range', '198.19.1.1', 403);
    await everywhere('imported v6 range', '2001:db8:f00d:1::1', 403);
    const rows = JSON.parse((await cli('blocks', '--json')).stdout) as Array<{ target: string; source: string }>;
    assert.equal(rows.find((b) => b.target === '198.18.0.0/15')?.source, 'import');

    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, '203.0.113.211\nexample.com\n10.0.0.1/8\n');
    const refused = await cli('block', '--from-file', bad);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /nothing imported: 2 line\(s\).*\n.*line 2: "example.com" is not an IP address or CIDR.*\n.*line 3: .*did you mean 10\.0\.0\.0\/8/);
    assert.equal(await statusAt(apps[0]!, '203.0.113.211'), 200);
  });

  test('bad input is refused with a message that says what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['block', 'not-an-ip'], /not an IP address or CIDR/],
      [['block', '10.0.0.5/24'], /did you mean 10\.0\.0\.0\/24/],
      [['block', '10.0.0.0/33'], /prefix length/],
      [['block', '203.0.113.1', '--expires', '2001-01-01T00:00:00Z'], /in the past/],
      [['block', '203.0.113.1', '--expires', 'tomorrow'], /not understood/],
      [['block', '203.0.113.1', '--frobnicate'], /Unknown option '--frobnicate'/],
      [['unblock', '203.0.113.99'], /203\.0\.113\.99 is not blocked: `ipwatch blocks --covers 203\.0\.113\.99` shows the ranges that block it/],
      [['blocks', '--covers', 'banana'], /covers takes one IP address, e\.g\. 203\.0\.113\.7; "banana" is not one/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
