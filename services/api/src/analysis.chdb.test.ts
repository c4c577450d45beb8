/**
 * GET /api/clients/:ip/analysis on a real api (in-process event log, chDB): the store's
 * figures, and whether a block in force covers the address now, with a rule's block's
 * detection as evidence and the allowlist winning; bad input refused, coded.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { allowMessage, blockMessage, LIST_TOPICS } from '@ipwatch/core/decisions';
import type { AllowEntry, BlockDecision } from '@ipwatch/core/schemas';
import type { Analytics } from '@ipwatch/store';
import { createApiApp } from './apiServer.ts';
import { openListsView } from './listsView.ts';
import { createListChanges } from './listChanges.ts';
import type { AnalysisAnswer } from './analysis.ts';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { afterThisTest } from '../../../test/support/afterThisTest.ts';
import { assertRefused } from '../../../test/support/refusal.ts';
import { FIXTURE, fixtureNow, insertClientFixture } from '../../../shared/store/src/queries/clientAnalysis.fixture.ts';

const H = 3_600_000;
const now = fixtureNow();
let stored: Promise<Analytics> | undefined;
const analytics = () => (stored ??= testAnalytics().then(async (a) => (await insertClientFixture(a, now), a)));

const block = (target: string, source: string, expiresAt: number | null, createdBy = 'scorer'): BlockDecision => ({ target, reason: `${source} said so`, source, severity: 'high', createdAt: now - H, expiresAt, createdBy });
const allow = (target: string): AllowEntry => ({ target, reason: 'office', createdAt: now - 2 * H, expiresAt: null, createdBy: 'alice' });

/** An api whose lists hold `blocks` and `allows` (written to its log as blocksync would read them), on the fixture's clock. */
async function serve(entries: { blocks?: BlockDecision[]; allows?: AllowEntry[] } | null) {
  const store = await analytics();
  const log = createMemoryEventLog();
  const view = await openListsView(log, () => {});
  await view.ready;
  await log.produce(LIST_TOPICS.blocks, (entries?.blocks ?? []).map(blockMessage));
  await log.produce(LIST_TOPICS.allow, (entries?.allows ?? []).map(allowMessage));
  for (const b of entries?.blocks ?? []) assert.ok(await view.waitFor('blocks', b.target, (r) => r !== undefined, 5000));
  for (const a of entries?.allows ?? []) assert.ok(await view.waitFor('allow', a.target, (r) => r !== undefined, 5000));
  const lists = entries === null ? undefined : { view, changes: createListChanges({ log, view, analytics: store, warn: () => {} }) };
  const server = createApiApp({ analytics: store, token: null, now: () => now, ...(lists && { lists }) }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await log.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as AnalysisAnswer & { error?: string; code?: string } };
  };
}

test('an IPv4 client blocked by a rule and by a person: both blocks, the longest first, the rule\'s with its detection; an expired one left out', async () => {
  const get = await serve({
    blocks: [
      block(FIXTURE.ip, 'sensitive-files', now + 6 * H),
      block('198.51.100.0/24', 'manual', null, 'alice'),
      block('198.51.0.0/16', 'manual', now - 1, 'alice'),
      block(FIXTURE.neighbour, 'manual', null, 'alice'),
    ],
  });
  const { status, body } = await get(`/api/clients/${FIXTURE.ip}/analysis?hours=3`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.ip, FIXTURE.ip);
  assert.equal(body.generatedAt, now);
  assert.equal(body.traffic.requests, 10);
  assert.equal(body.traffic.errorRate, 0.7);
  assert.deepEqual(body.hourly.map((h) => h.requests), [4, 0, 6]);
  assert.equal(body.sensitivePaths.requests, 4);
  assert.equal(body.userAgents.find((u) => u.requests === 1)?.userAgent, FIXTURE.hostileUserAgent, 'JSON keeps the text exactly');
  const b = body.blockedNow!;
  assert.equal(b.blocked, true);
  assert.deepEqual(b.allowlisted, []);
  assert.deepEqual(b.blocks.map((e) => [e.target, e.by, e.source, e.until, e.createdBy]), [
    ['198.51.100.0/24', 'person', 'manual', null, 'alice'],
    [FIXTURE.ip, 'rule', 'sensitive-files', now + 6 * H, 'scorer'],
  ]);
  assert.equal(b.blocks[0]!.evidence, null);
  assert.equal(b.blocks[1]!.evidence?.id, 'fixture-d-files');
  assert.deepEqual(b.blocks[1]!.evidence?.evidence, { paths: '/.env', requests: '2' });
  assert.equal(b.blocks[1]!.since, now - H);
}, 60_000);

test('an IPv6 client: its /64 analysed, the /64\'s rule block covers it, but the allowlist wins', async () => {
  const get = await serve({ blocks: [block(FIXTURE.net6, 'burst', now + H)], allows: [allow('2001:db8:1::/48')] });
  const { status, body } = await get(`/api/clients/${encodeURIComponent(FIXTURE.ip6)}/analysis?hours=3`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body.scope, { kind: 'network/64', client: FIXTURE.net6 });
  assert.equal(body.traffic.requests, 3);
  assert.equal(body.blockedNow?.blocked, false);
  assert.equal(body.blockedNow?.blocks[0]?.evidence?.id, 'fixture-d-v6');
  assert.deepEqual(body.blockedNow?.allowlisted.map((a) => [a.target, a.by, a.createdBy]), [['2001:db8:1::/48', 'person', 'alice']]);
  // Written as curl would send it, colons and all, and as another address of the same /64.
  const raw = await get(`/api/clients/${FIXTURE.ip6Sibling}/analysis?hours=3`);
  assert.equal(raw.status, 200, JSON.stringify(raw.body));
  assert.deepEqual([raw.body.ip, raw.body.scope.client, raw.body.traffic.requests], [FIXTURE.ip6Sibling, FIXTURE.net6, 3]);
  // Not blocked at all, and an api without the lists says it cannot tell.
  const free = await get('/api/clients/192.0.2.200/analysis');
  assert.equal(free.status, 200);
  assert.deepEqual(free.body.blockedNow, { blocked: false, blocks: [], allowlisted: [] });
  assert.equal(free.body.hourly.length, 24, 'hours defaults to 24');
  const bare = await serve(null);
  assert.equal((await bare(`/api/clients/${FIXTURE.ip}/analysis?hours=1`)).body.blockedNow, null);
}, 60_000);

test('not one address, hours out of range, an unknown or repeated parameter: refused, coded', async () => {
  const get = await serve({});
  for (const ip of ['example.com', '198.51.100.23:80', encodeURIComponent('198.51.100.0/24'), encodeURIComponent('[2001:db8::1]'), '999.1.1.1']) {
    assertRefused(await get(`/api/clients/${ip}/analysis`), 'IPWATCH_INVALID_ADDRESS', /is not an IP address|has a port/);
  }
  for (const hours of ['0', '721', '1.5', '-3', '24h', '']) {
    assertRefused(await get(`/api/clients/${FIXTURE.ip}/analysis?hours=${hours}`), 'IPWATCH_BAD_FILTER', /hours .* must be a whole number from 1 to 720/);
  }
  assertRefused(await get(`/api/clients/${FIXTURE.ip}/analysis?hour=3`), 'IPWATCH_UNKNOWN_PARAMETER', /"hour" \(did you mean hours\?\)/);
  assertRefused(await get(`/api/clients/${FIXTURE.ip}/analysis?hours=3&hours=4`), 'IPWATCH_BAD_FILTER', /hours is given 2 times/);
}, 60_000);
