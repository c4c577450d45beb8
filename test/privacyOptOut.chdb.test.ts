/**
 * Opt-out end to end, on the real parts in one process: an Express app with the emitter (an
 * `optOut` hook and the Global Privacy Control honoured), the in-process event log, the
 * enricher with the bundled geolocation data and IPWATCH_OPT_OUT_REGIONS=FR, the scorer,
 * blocksync (a block made on the blocks topic reaches the app's block mirror) and the sink
 * into chDB. An opted-out user and a visitor from an opted-out country leave no address, user
 * id or path in ClickHouse (their rows are there, withheld: ip ::), a blocked opted-out
 * client is still refused, and everyone else is stored as ever.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import type { ServiceContext } from '@ipwatch/core/service';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { blockMessage } from '@ipwatch/core/decisions';
import { TOPICS } from '@ipwatch/core/topics';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startScorerService } from '@ipwatch/scorer';
import { startBlocksyncService } from '@ipwatch/blocksync';
import { ipwatch, createBlockMirror } from '@ipwatch/emitter';
import { testAnalytics } from './support/analytics.ts';
import { afterThisTest } from './support/afterThisTest.ts';
import { uniqueName } from './support/components.ts';

/** Addresses the bundled data places (test/pipeline.kafka.chdb.test.ts checks the same ones). */
const FRANCE = '46.105.14.53';
const RUSSIA = '83.149.9.216';
const US = '8.8.8.8';
/** Blocked, and opted out. */
const BLOCKED = '198.51.100.66';

test('an opted-out user and a visitor from an opted-out country leave no address in ClickHouse; a blocked opted-out client is still refused', async () => {
  const config = loadConfig({ IPWATCH_API_PORT: '0', IPWATCH_METRICS_PORT: '0', IPWATCH_OPT_OUT_REGIONS: 'FR' });
  const log = createMemoryEventLog();
  const ctx: ServiceContext = { config, log, health: createHealth(), metrics: createMetrics, warn: () => {} };
  const analytics = await testAnalytics();
  const lists = createMemorySharedLists();
  const sink = await startSinkService(ctx, analytics);
  const enricher = await startEnricherService(ctx);
  const scorerMetrics = createMetrics('scorer');
  const scorer = await startScorerService(ctx, scorerMetrics);
  const blocksync = await startBlocksyncService(ctx, lists);
  const blockMirror = createBlockMirror({ lists });
  afterThisTest(async () => {
    await blockMirror.close();
    await blocksync.stop();
    await scorer.stop();
    await enricher.stop();
    await sink.stop();
    await lists.close();
    await log.close();
  });

  const app = uniqueName('optout');
  const tracker = ipwatch({
    log,
    app,
    trustedProxies: ['127.0.0.1'],
    bufferOptions: { flushIntervalMs: 10 },
    blockMirror,
    user: (req) => (typeof req.headers['x-user'] === 'string' ? { id: req.headers['x-user'], authenticated: true } : null),
    // The app's own record of who asked not to be tracked.
    optOut: (_req, user) => user?.id === 'bob',
    honourGpc: true,
  });
  const web = express();
  web.use(tracker);
  web.get(/.*/, (_req, res) => void res.send('hello'));
  const server = web.listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    server.closeAllConnections();
    server.close();
    await tracker.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (ip: string, path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { headers: { 'x-forwarded-for': ip, 'user-agent': 'Browser/1.0', ...headers } });
    await res.text();
    return res.status;
  };

  // A manual block, as `ipwatch block` makes it: on the blocks topic, mirrored by blocksync into the lists the app reads.
  await log.produce(TOPICS.blocks, [blockMessage({ target: BLOCKED, reason: 'test', source: 'manual', severity: 'high', createdAt: Date.now(), expiresAt: null, createdBy: 'test' })]);
  const deadline = Date.now() + 15_000;
  while (blockMirror.check(BLOCKED) !== 'blocked') {
    assert.ok(Date.now() < deadline, 'the block never reached the app');
    await new Promise((r) => setTimeout(r, 20));
  }

  const statuses = {
    bob: [await get(RUSSIA, '/users/bob', { 'x-user': 'bob' }), await get(RUSSIA, '/users/bob/orders', { 'x-user': 'bob' }), await get(RUSSIA, '/settings', { 'x-user': 'bob' })],
    france: [await get(FRANCE, '/users/carol', { 'x-user': 'carol' }), await get(FRANCE, '/'), await get(FRANCE, '/about')],
    alice: [await get(US, '/users/alice', { 'x-user': 'alice' }), await get(US, '/')],
    blocked: [await get(BLOCKED, '/', { 'sec-gpc': '1' }), await get(BLOCKED, '/users/bob', { 'x-user': 'bob' })],
  };
  assert.deepEqual(statuses, { bob: [200, 200, 200], france: [200, 200, 200], alice: [200, 200], blocked: [403, 403] });

  const count = async (where: string, params: Record<string, unknown> = {}) => {
    const rs = await analytics.client.query({ query: `SELECT count() AS n FROM requests WHERE app = {app:String} AND (${where})`, query_params: { app, ...params }, format: 'JSONEachRow' });
    return Number((await rs.json<{ n: string }>())[0]!.n);
  };
  const stored = Date.now() + 30_000;
  while ((await count('1')) < 10) {
    assert.ok(Date.now() < stored, `only ${await count('1')} of 10 requests stored`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // No address, user id, username or path of theirs anywhere in the table.
  const theirs = [RUSSIA, FRANCE, BLOCKED].map((ip) => `::ffff:${ip}`);
  assert.equal(await count('ip IN (toIPv6({a:String}), toIPv6({b:String}), toIPv6({c:String}))', { a: theirs[0], b: theirs[1], c: theirs[2] }), 0, 'rows with their addresses');
  assert.equal(await count("user_id IN ('bob', 'carol') OR login_user IN ('bob', 'carol')"), 0, 'rows with their user ids');
  assert.equal(await count("positionCaseInsensitive(path, 'bob') > 0 OR positionCaseInsensitive(path, 'carol') > 0 OR path = '/about'"), 0, 'rows with their paths');
  // Their rows are there, withheld; the blocked ones still say blocked.
  assert.equal(await count("ip = toIPv6('::') AND path = '' AND user_agent = '' AND user_id IS NULL"), 8);
  assert.equal(await count("ip = toIPv6('::') AND blocked AND status = 403"), 2);
  // The French visitor's place is cut to the country; its city and coordinates are gone.
  assert.equal(await count("ip = toIPv6('::') AND country = 'FR' AND city = '' AND latitude IS NULL AND longitude IS NULL"), 3);
  assert.equal(await count("country = 'FR' AND (city != '' OR latitude IS NOT NULL)"), 0);
  // Everyone else as ever.
  assert.equal(await count("ip = toIPv6('::ffff:8.8.8.8') AND country = 'US' AND (user_id = 'alice' OR path = '/')"), 2);

  // Nothing about them was scored: the scorer skipped the eight, so no detection can name them.
  const skipped = Date.now() + 15_000;
  while (!/^ipwatch_scorer_skipped_total\{reason="withheld",service="scorer"\} 8$/m.test(await scorerMetrics.text())) {
    assert.ok(Date.now() < skipped, 'the scorer did not skip the eight withheld requests');
    await new Promise((r) => setTimeout(r, 50));
  }
  const detections = await analytics.client.query({ query: "SELECT count() AS n FROM detections WHERE ip = toIPv6('::')", format: 'JSONEachRow' });
  assert.equal(Number((await detections.json<{ n: string }>())[0]!.n), 0);
}, 120_000);
