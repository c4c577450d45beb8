/**
 * Every service's /metrics, scraped over HTTP as Prometheus would, passes Prometheus's own
 * linter (`promtool check metrics`): counters end in _total, units in names, valid text.
 * The services run in-process on the in-process event log and chDB, each with its own
 * registry and /metrics server as `ipwatch run <service>` gives it.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics, type IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { startObservabilityServer } from '@ipwatch/core/observability/server';
import { startServiceProcess, type Stops } from '@ipwatch/core/serviceProcess';
import type { ServiceContext } from '@ipwatch/core/service';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { codecs, SCHEMA_HEADER, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { startEnricherService } from '@ipwatch/enricher';
import { startSinkService } from '@ipwatch/sink';
import { startBlocksyncService } from '@ipwatch/blocksync';
import { startApiService } from '@ipwatch/api';
import { ipwatch, createBlockMirror, createRateLimiter, registerEnforcementMetrics } from '@ipwatch/emitter';
import { testAnalytics } from './support/analytics.ts';
import { checkMetrics } from './support/promtool.ts';
import { afterThisTest } from './support/afterThisTest.ts';

const config = loadConfig({ IPWATCH_API_PORT: '0', IPWATCH_METRICS_PORT: '0' });

function contextOn(log: EventLog): ServiceContext {
  return { config, log, health: createHealth(), metrics: createMetrics, warn: () => {} };
}

async function scrape(port: number): Promise<string> {
  // A fresh connection each time: a pooled keep-alive socket the server has just closed would
  // be reset (ECONNRESET, seen once on a loaded machine), which says nothing about /metrics.
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } });
  assert.equal(res.status, 200);
  return res.text();
}

test('each service serves /metrics that promtool check metrics accepts', async () => {
  const log = createMemoryEventLog();
  const analytics = await testAnalytics();
  const lists = createMemorySharedLists();
  const sharedLog: EventLog = {
    kind: log.kind,
    epoch: () => log.epoch(),
    produce: (topic, messages) => log.produce(topic, messages),
    consume: (options) => log.consume(options),
    readCompacted: (topic, options) => log.readCompacted(topic, options),
    readRange: (topic, options) => log.readRange(topic, options),
    committedOffsets: (groupId, topic) => log.committedOffsets(groupId, topic),
    ensureTopics: (specs) => log.ensureTopics(specs),
    close: async () => {},
  };
  const starters: Record<string, (ctx: ServiceContext, metrics: IpwatchMetrics, stops: Stops) => Promise<unknown>> = {
    enricher: async (ctx, metrics, stops) => stops.add('enricher', (await startEnricherService(ctx, metrics)).stop),
    sink: async (ctx, metrics, stops) => stops.add('sink', (await startSinkService(ctx, analytics, metrics)).stop),
    blocksync: async (ctx, metrics, stops) => stops.add('blocksync', (await startBlocksyncService(ctx, lists, metrics)).stop),
    api: async (ctx, metrics, stops) => stops.add('api', (await startApiService(ctx, analytics, { metrics })).stop),
  };
  const ports: Record<string, number> = {};
  for (const [name, start] of Object.entries(starters)) {
    // Each on its own context, as its own process would be; the event log is shared (and closed) here.
    const ctx = contextOn(sharedLog);
    const metrics = ctx.metrics(name);
    const proc = await startServiceProcess({ ctx, metrics, metricsPort: 0, metricsHost: '127.0.0.1', start: (stops) => start(ctx, metrics, stops) });
    afterThisTest(() => proc.stop());
    ports[name] = proc.observability.port;
  }
  afterThisTest(async () => {
    await lists.close();
    await log.close();
  });

  // One event through the enricher and the sink, so their counters and histograms have samples.
  const event: RequestEvent = {
    id: 'metrics-1', ts: Date.now(), ip: '8.8.8.8', ipAnonymisation: 'off', app: 'metrics-test', instance: 'm', method: 'GET', host: 'h',
    path: '/', status: 200, latencyMs: 1, bytes: 2, userAgent: 'ua', referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false,
  };
  await log.produce(TOPICS.requests, [{ key: event.ip, value: codecs.RequestEvent.encode(event), headers: { [SCHEMA_HEADER]: 'RequestEvent' } }]);
  const deadline = Date.now() + 30_000;
  while (!/^ipwatch_events_in_total\{topic="ipwatch\.requests\.enriched\.v1"/m.test(await scrape(ports.sink!))) {
    assert.ok(Date.now() < deadline, 'the sink never consumed the enriched event');
    await new Promise((r) => setTimeout(r, 100));
  }

  for (const [name, port] of Object.entries(ports)) {
    const text = await scrape(port);
    assert.match(text, new RegExp(`service="${name}"`));
    if (name === 'api') assert.match(text, /^ipwatch_api_auth_refusals_total\{reason="wrong_token",service="api"\} 0$/m);
    const { ok, problems } = checkMetrics(text);
    assert.ok(ok, `${name}'s /metrics: promtool says:\n${problems}`);
  }
}, 120_000);

test("the emitter's enforcement metrics pass promtool check metrics", async () => {
  const log = createMemoryEventLog();
  const lists = createMemorySharedLists();
  // No blocksync writes these lists: the mirror keeps retrying its load, and reports that as stale.
  const blockMirror = createBlockMirror({ lists, onWarn: () => {} });
  const rateLimiter = createRateLimiter();
  const tracker = ipwatch({ log, app: 'shop', blockMirror, rateLimiter, rateLimitAt: 'mounted' });
  const metrics = createMetrics('shop');
  registerEnforcementMetrics(metrics, { tracker, blockMirror, rateLimiter });
  const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, health: createHealth() });
  afterThisTest(async () => {
    await server.close();
    await tracker.close();
    await rateLimiter.close();
    await blockMirror.close();
    await lists.close();
    await log.close();
  });
  const text = await scrape(server.port);
  assert.match(text, /^ipwatch_enforced_requests_total\{by="blocked",service="shop"\} 0$/m);
  const { ok, problems } = checkMetrics(text);
  assert.ok(ok, `promtool says:\n${problems}`);
}, 30_000);
