/**
 * End to end on real components: HTTP requests from several client IPs (behind a trusted
 * proxy) through an Express app with the emitter, onto a real Kafka broker, through the
 * enricher and the sink, into ClickHouse (chDB), each with its geolocation.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { ipwatch } from '@ipwatch/emitter';
import { createEnricher, createGeoLookup } from '@ipwatch/enricher';
import { createClickhouseSink } from '@ipwatch/sink';
import { listRequests, parseRequestFilter } from '@ipwatch/store';
import { testAnalytics } from './support/analytics.ts';
import { kafkaBrokers, uniqueName } from './support/components.ts';

test('requests from several IPs land in ClickHouse with the right geolocation', async () => {
  const analytics = await testAnalytics();
  const log = createKafkaEventLog({ brokers: kafkaBrokers(), clientId: 'e2e', logLevel: 'nothing' });
  await log.ensureTopics(topicSpecs(2));
  const appName = uniqueName('e2e');
  const emitter = ipwatch({ log, app: appName, trustedProxies: ['127.0.0.1', '::1'] });
  const app = express();
  app.use(emitter);
  app.get('/hello', (_req, res) => void res.send('hi'));
  app.use((_req, res) => void res.status(404).send('no'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  const geo = await createGeoLookup({ cacheSize: 1000 });
  const metrics = createMetrics('e2e');
  const enricher = createEnricher({ log, geo, metrics, groupId: uniqueName('enricher') });
  const sink = createClickhouseSink({ log, analytics, metrics, batchSize: 5000, flushMs: 100, groupId: uniqueName('sink') });
  await enricher.start();
  await sink.start();

  const clients = [
    { xff: '8.8.8.8', ip: '8.8.8.8', country: 'US', asn: 15169 },
    { xff: '1.1.1.1', ip: '1.1.1.1', asn: 13335 },
    { xff: '2001:4860:4860::8888', ip: '2001:4860:4860::8888', asn: 15169 },
    { xff: '83.149.9.216', ip: '83.149.9.216', country: 'RU', asn: 31133 },
    { xff: '::ffff:46.105.14.53', ip: '46.105.14.53', country: 'FR', asn: 16276 },
    { xff: '[2a00:1450:4001:82a::200e]:443', ip: '2a00:1450:4001:82a::200e', asn: 15169 },
    { xff: '10.1.2.3', ip: '10.1.2.3', country: '', source: 'private' },
    // A client that claims another address in front of its own: only the last hop (added by our proxy) counts.
    { xff: '6.6.6.6, 9.9.9.9', ip: '9.9.9.9' },
  ];
  // An undecodable message in the middle of the stream: it goes to the DLQ, the rest goes on.
  const garbage = `not avro ${appName}`;
  await log.produce(TOPICS.requests, [{ key: '8.8.8.8', value: Buffer.from(garbage) }]);
  for (const c of clients) {
    for (const path of ['/hello', '/missing']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-forwarded-for': c.xff, 'user-agent': 'e2e-test' } });
      await res.text();
    }
  }

  const expected = clients.length * 2;
  let rows: Awaited<ReturnType<typeof listRequests>> = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const all = await listRequests(analytics, parseRequestFilter({ limit: 1000 }));
    rows = all.filter((r) => r.app === appName);
    if (rows.length >= expected) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(rows.length, expected, 'every request stored once');

  for (const c of clients) {
    const mine = rows.filter((r) => r.ip === c.ip);
    assert.equal(mine.length, 2, `two rows for ${c.ip}`);
    assert.deepEqual(mine.map((r) => r.status).sort(), [200, 404]);
    for (const r of mine) {
      assert.equal(r.user_agent, 'e2e-test');
      if (c.country !== undefined) assert.equal(r.country, c.country, `country of ${c.ip}`);
      if (c.asn !== undefined) assert.equal(Number(r.asn), c.asn, `ASN of ${c.ip}`);
    }
  }
  const ru = rows.find((r) => r.ip === '83.149.9.216')!;
  assert.ok(ru.country.length === 2 && ru.latitude !== null && ru.city !== '', 'a public address gets a country, coordinates and a city');

  const dead: LogMessage[] = [];
  const dlqReader = await log.consume({ groupId: uniqueName('dlq'), topics: [TOPICS.dlq], handle: async (b) => void dead.push(...b.messages) });
  const dlqDeadline = Date.now() + 30_000;
  const mine = () => dead.find((m) => m.value?.toString() === garbage);
  while (!mine() && Date.now() < dlqDeadline) await new Promise((r) => setTimeout(r, 100));
  await dlqReader.stop();
  assert.equal(mine()?.headers['ipwatch-source-topic'], TOPICS.requests);
  assert.match(mine()?.headers['ipwatch-error'] ?? '', /not a valid RequestEvent/);

  await enricher.stop();
  await sink.stop();
  await emitter.close();
  server.close();
  await log.close();
}, 120_000);
