import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { codecs, SCHEMA_HEADER, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { EventLog, LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { ipwatch, type IpwatchMiddleware } from './express.ts';
import { createEventBuffer } from './eventBuffer.ts';
import { EmitterOptionError, NoEventLogError } from './errors.ts';
import { until } from './adapterExpectations.test-support.ts';

type AuthedRequest = express.Request & { user?: { id: number } };

async function startApp(tracker: IpwatchMiddleware<AuthedRequest>): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(tracker as unknown as express.RequestHandler);
  app.use((req: AuthedRequest, _res, next) => {
    if (req.headers.authorization === 'Bearer alice') req.user = { id: 7 };
    next();
  });
  app.get('/hello', (_req, res) => { res.send('hello world'); });
  const api = express.Router();
  api.get('/items/:id', (req, res) => { res.status(404).json({ missing: req.params.id }); });
  app.use('/api', api);
  app.get('/boom', () => { throw new Error('handler bug'); });
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(500).send('error'); });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Reads every message of the requests topic into `out`. */
async function readAll(log: EventLog, out: LogMessage[]) {
  return log.consume({ groupId: `t-${Math.random()}`, topics: [TOPICS.requests], handle: async (batch) => { out.push(...batch.messages); } });
}

describe('ipwatch() Express middleware', () => {
  test('real Express app + in-process log: one decodable event per request, keyed by IP, schema header set', async () => {
    const log = createMemoryEventLog();
    const tracker = ipwatch<AuthedRequest>({
      log,
      app: 'shop',
      bufferOptions: { flushIntervalMs: 5 },
      user: (req) => (req.user ? { id: String(req.user.id), authenticated: true } : undefined),
    });
    const { url, server } = await startApp(tracker);
    const got: LogMessage[] = [];
    const consumer = await readAll(log, got);
    try {
      assert.equal(await (await fetch(`${url}/hello?x=%C3%A9`, { headers: { 'user-agent': 'test-agent', authorization: 'Bearer alice', referer: 'https://r.example/' } })).text(), 'hello world');
      assert.equal((await fetch(`${url}/api/items/42`, { method: 'delete' })).status, 404);
      assert.equal((await fetch(`${url}/api/items/42`)).status, 404);
      assert.equal((await fetch(`${url}/boom`)).status, 500);
      await until(() => got.length === 4);
      const events = got.map((m) => ({ ...codecs.RequestEvent.decode(m.value!) }) as RequestEvent);
      for (const m of got) {
        assert.equal(m.key, '127.0.0.1');
        assert.equal(m.headers[SCHEMA_HEADER], 'RequestEvent');
      }
      const hello = events.find((e) => e.path.startsWith('/hello'))!;
      assert.equal(hello.path, '/hello?x=é');
      assert.equal(hello.method, 'GET');
      assert.equal(hello.status, 200);
      assert.equal(hello.bytes, 11);
      assert.equal(hello.userAgent, 'test-agent');
      assert.equal(hello.referer, 'https://r.example/');
      assert.equal(hello.userId, '7');
      assert.equal(hello.authenticated, true);
      assert.equal(hello.app, 'shop');
      assert.equal(hello.ip, '127.0.0.1');
      // originalUrl, not the router-relative url
      const items = events.filter((e) => e.path === '/api/items/42');
      assert.deepEqual(items.map((e) => e.method).sort(), ['DELETE', 'GET'].sort());
      assert.ok(items.every((e) => e.status === 404 && e.userId === null && !e.authenticated));
      assert.equal(events.find((e) => e.path === '/boom')!.status, 500);
      assert.equal(new Set(events.map((e) => e.id)).size, 4);
      const s = tracker.stats();
      assert.equal(s.sent, 4);
      assert.equal(s.recorded, 4);
      assert.equal(s.dropped, 0);
    } finally {
      await consumer.stop();
      await tracker.close();
      await stop(server);
      await log.close();
    }
  });

  test('a log whose produce always rejects: requests answered fast, failures and drops counted, memory bounded', async () => {
    let calls = 0;
    const log = { kind: 'kafka', produce: async () => { calls++; throw new Error('KafkaJSConnectionError: connect ECONNREFUSED'); } } as unknown as EventLog;
    const tracker = ipwatch({ log, bufferOptions: { maxEvents: 50, flushIntervalMs: 1, retryMinMs: 5, retryMaxMs: 20 } });
    const { url, server } = await startApp(tracker);
    try {
      const started = performance.now();
      for (let i = 0; i < 20; i++) {
        await Promise.all(Array.from({ length: 10 }, async () => assert.equal((await fetch(`${url}/hello`)).status, 200)));
      }
      const perRequestMs = (performance.now() - started) / 200;
      assert.ok(perRequestMs < 50, `requests took ${perRequestMs} ms each`);
      await until(() => tracker.stats().recorded === 200);
      await sleep(50);
      const s = tracker.stats();
      assert.equal(s.buffered, 50, 'held up to the bound');
      assert.equal(s.droppedByReason.buffer_full, 150);
      assert.ok(s.failures >= 2 && s.failures === calls, `failures ${s.failures}, calls ${calls}`);
      assert.match(s.lastError ?? '', /ECONNREFUSED/);
    } finally {
      await stop(server);
      await tracker.close(20);
    }
    assert.equal(tracker.stats().droppedByReason.close_timeout, 50, 'what close could not send is counted, not lost silently');
  });

  test('a log whose produce never resolves: requests still answered fast, one produce call, memory bounded', async () => {
    let calls = 0;
    const log = { kind: 'kafka', produce: () => { calls++; return new Promise<void>(() => {}); } } as unknown as EventLog;
    const tracker = ipwatch({ log, bufferOptions: { maxEvents: 100, maxBatch: 10, flushIntervalMs: 1 } });
    const { url, server } = await startApp(tracker);
    try {
      const started = performance.now();
      for (let i = 0; i < 30; i++) {
        await Promise.all(Array.from({ length: 10 }, async () => assert.equal((await fetch(`${url}/hello`)).status, 200)));
      }
      assert.ok((performance.now() - started) / 300 < 50);
      await until(() => tracker.stats().recorded === 300);
      const s = tracker.stats();
      assert.equal(calls, 1);
      assert.equal(s.buffered, 100);
      assert.equal(s.droppedByReason.buffer_full, 200);
      assert.ok(s.inFlightMs !== null);
      // the heap does not grow with requests once the buffer is full
      global.gc?.();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 50; i++) {
        await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${url}/hello`)).text()));
      }
      await until(() => tracker.stats().recorded === 800);
      global.gc?.();
      const grownMb = (process.memoryUsage().heapUsed - before) / 1e6;
      assert.ok(grownMb < 20, `heap grew ${grownMb} MB`);
      assert.equal(tracker.stats().buffered, 100);
    } finally {
      await stop(server);
      const closing = performance.now();
      await tracker.close(30);
      assert.ok(performance.now() - closing < 1000, 'close returns at its timeout');
    }
  });

  test('hostile headers through Express: arrays, huge values, control characters, no crash', async () => {
    const log = createMemoryEventLog();
    const tracker = ipwatch({ log, trustedHops: 1, maxHeaderLength: 100, maxPathLength: 100, bufferOptions: { flushIntervalMs: 1 } });
    const { url, server } = await startApp(tracker);
    const got: LogMessage[] = [];
    const consumer = await readAll(log, got);
    try {
      const headers = new Headers();
      headers.append('x-forwarded-for', '<script>');
      headers.append('x-forwarded-for', '203.0.113.9:4444');
      headers.set('user-agent', 'A'.repeat(8000) + '\t');
      headers.set('referer', 'é'.repeat(5000));
      assert.equal((await fetch(`${url}/hello/${'%00'.repeat(500)}`, { headers })).status, 404);
      assert.equal((await fetch(`${url}/hello`, { headers: { 'x-forwarded-for': 'garbage' } })).status, 200);
      await until(() => got.length === 2);
      const [a, b] = got.map((m) => codecs.RequestEvent.decode(m.value!));
      assert.equal(a!.ip, '203.0.113.9');
      assert.equal(a!.userAgent, 'A'.repeat(100));
      assert.equal(a!.referer.length, 100);
      assert.ok(a!.path.length <= 100 && !/[\x00-\x1f]/.test(a!.path));
      assert.equal(b!.ip, '127.0.0.1', 'garbage in the only trusted hop: the socket peer');
      assert.equal(tracker.stats().emitErrors, 0);
    } finally {
      await consumer.stop();
      await tracker.close();
      await stop(server);
      await log.close();
    }
  });

  test('options: exactly one of log or buffer; a given buffer is flushed, not closed', async () => {
    const log = createMemoryEventLog();
    assert.throws(() => ipwatch({} as never), (err: unknown) => err instanceof NoEventLogError && err.code === 'IPWATCH_NO_EVENT_LOG' && /createKafkaEventLog/.test(err.message));
    const buffer = createEventBuffer({ log, topic: TOPICS.requests });
    assert.throws(() => ipwatch({ log, buffer }), (err: unknown) => err instanceof EmitterOptionError && err.code === 'IPWATCH_BAD_OPTION' && /not both/.test(err.message));
    assert.throws(() => ipwatch({ log, trustedProxy: ['10.0.0.0/8'] } as never), /unknown option "trustedProxy" \(did you mean trustedProxies\?\)/);
    assert.throws(() => ipwatch({ log: 'kafka:9092' } as never), /log must be an EventLog/);
    const tracker = ipwatch({ buffer });
    await tracker.close();
    assert.equal(buffer.push('k', Buffer.from('x')), true, 'still open: it belongs to the caller');
    await buffer.close();
    await log.close();
  });
});
