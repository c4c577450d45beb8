/**
 * The app keeps serving when Kafka is not there or goes away: with the real Kafka adapter,
 * requests are answered at normal speed, events wait in the bounded buffer, and what does
 * not fit is dropped and counted, never an error to the app.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { TOPICS } from '@ipwatch/core/topics';
import { ipwatch } from '@ipwatch/emitter';
import { startKafka } from '../infra/kafka-local/harness.ts';

async function appWith(tracker: ReturnType<typeof ipwatch>) {
  const app = express();
  app.use(tracker);
  app.get('/', (_req, res) => void res.send('ok'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

async function timedRequests(url: string, n: number): Promise<number> {
  let slowest = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url);
    assert.equal(res.status, 200);
    await res.text();
    slowest = Math.max(slowest, performance.now() - t);
  }
  return slowest;
}

test('no broker at all: every request is served promptly, the buffer stays bounded and counts its drops', async () => {
  // Port 1 on loopback: connection refused at once, as when the broker is down.
  const log = createKafkaEventLog({ brokers: ['127.0.0.1:1'], clientId: 'down-test', logLevel: 'nothing', connectionTimeoutMs: 500 });
  const tracker = ipwatch({ log, app: 'down', bufferOptions: { maxEvents: 50 } });
  const { server, url } = await appWith(tracker);
  const slowest = await timedRequests(url, 200);
  assert.ok(slowest < 1000, `no request waited on Kafka (slowest ${slowest.toFixed(0)} ms)`);
  const stats = tracker.stats();
  assert.ok(stats.buffered <= 50, `buffer bounded (${stats.buffered})`);
  assert.ok(stats.dropped >= 150, `drops counted (${stats.dropped})`);
  assert.equal(stats.sent, 0);
  const t = performance.now();
  await tracker.close(1000);
  assert.ok(performance.now() - t < 5000, 'close gives up after its timeout instead of hanging');
  server.close();
  await log.close().catch(() => undefined);
}, 60_000);

test('the broker goes away mid-traffic: requests go on, and what was sent before is in Kafka', async () => {
  const kafka = await startKafka();
  const log = createKafkaEventLog({ brokers: [kafka.brokers], clientId: 'going-down', logLevel: 'nothing', connectionTimeoutMs: 500, requestTimeoutMs: 3000 });
  await log.ensureTopics([{ name: TOPICS.requests, partitions: 1, config: {} }]);
  const tracker = ipwatch({ log, app: 'going-down', bufferOptions: { maxEvents: 100 } });
  const { server, url } = await appWith(tracker);
  await timedRequests(url, 50);
  const deadline = Date.now() + 20_000;
  while (tracker.stats().sent < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(tracker.stats().sent, 50, 'sent while the broker was up');

  await kafka.stop();
  const slowest = await timedRequests(url, 300);
  assert.ok(slowest < 1000, `requests are not held up by the dead broker (slowest ${slowest.toFixed(0)} ms)`);
  const stats = tracker.stats();
  assert.ok(stats.buffered <= 100 && stats.dropped >= 200, `bounded and counted: ${JSON.stringify({ buffered: stats.buffered, dropped: stats.dropped })}`);
  await tracker.close(1000);
  server.close();
  await log.close().catch(() => undefined);
}, 120_000);
