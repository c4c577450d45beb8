/**
 * The Fastify plugin, on a real Fastify 5 app, against the same expectations as the Express
 * middleware (express.test.ts, enforcement.test.ts; the shared ones written once in
 * adapterExpectations.test-support.ts): event fields, the client-IP rules, blocks, the
 * allowlist, rate limits at entry and after the body parser, a Kafka that is down, and coded
 * errors at start.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { codecs, SCHEMA_HEADER, type RateLimitEvent, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { EventLog, LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { ipwatchFastify, type IpwatchFastifyDecoration, type IpwatchFastifyOptions } from './fastify.ts';
import { createRateLimiter } from './rateLimit/rateLimiter.ts';
import { expectBlockedAnswers, expectThreeAMinuteLimit, loadedMirror, until } from './adapterExpectations.test-support.ts';

type UserRequest = { headers: Record<string, unknown>; user?: string };

/** A Fastify app with the plugin, an in-process log and a reader of what reaches it. */
async function start(options: Partial<IpwatchFastifyOptions> & { log?: EventLog } = {}, more?: (app: FastifyInstance) => void) {
  const log = options.log ?? createMemoryEventLog();
  const app: FastifyInstance = Fastify();
  await app.register(ipwatchFastify, { log, app: 'shop', trustedProxies: ['127.0.0.1'], bufferOptions: { flushIntervalMs: 5 }, ...options });
  more?.(app);
  app.get('/hello', async () => 'hello');
  app.post('/login', async () => ({ ok: false }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const messages: LogMessage[] = [];
  const consumer = options.log ? null : await log.consume({ groupId: 'read', topics: [TOPICS.requests, TOPICS.rateLimit], handle: async (b) => void messages.push(...b.messages) });
  return {
    app,
    url,
    messages,
    get: (ip: string, headers: Record<string, string> = {}) => fetch(`${url}/hello`, { headers: { 'x-forwarded-for': ip, ...headers } }),
    requests: () => messages.filter((m) => m.topic === TOPICS.requests).map((m) => codecs.RequestEvent.decode(m.value!)),
    limits: (): RateLimitEvent[] => messages.filter((m) => m.topic === TOPICS.rateLimit).map((m) => codecs.RateLimitEvent.decode(m.value!)),
    stats: () => (app as unknown as { ipwatch: IpwatchFastifyDecoration }).ipwatch.stats(),
    async close() {
      await app.close(); // the plugin's onClose flushes the events
      await consumer?.stop();
      await log.close();
    },
  };
}

describe('ipwatchFastify plugin', () => {
  test('one decodable event per request, with the fields the Express middleware records', async () => {
    const t = await start({ user: (request: UserRequest) => (typeof request.headers['x-user'] === 'string' ? { id: request.headers['x-user'], authenticated: true } : null) });
    try {
      const res = await fetch(`${t.url}/hello?q=1`, { headers: { 'x-forwarded-for': '198.51.100.9', 'user-agent': 'probe/1.0', referer: 'https://example.com/', 'x-user': 'alice' } });
      assert.equal(await res.text(), 'hello');
      assert.equal((await fetch(`${t.url}/missing`, { headers: { 'x-forwarded-for': '198.51.100.10' } })).status, 404);
      await until(() => t.requests().length === 2, 'two events');
      const byIp = new Map(t.requests().map((e: RequestEvent) => [e.ip, e]));
      const hello = byIp.get('198.51.100.9')!;
      assert.deepEqual(
        { method: hello.method, path: hello.path, status: hello.status, app: hello.app, userAgent: hello.userAgent, referer: hello.referer, userId: hello.userId, authenticated: hello.authenticated, blocked: hello.blocked },
        { method: 'GET', path: '/hello?q=1', status: 200, app: 'shop', userAgent: 'probe/1.0', referer: 'https://example.com/', userId: 'alice', authenticated: true, blocked: false },
      );
      assert.ok(hello.latencyMs >= 0 && hello.bytes === 5 && hello.host.startsWith('127.0.0.1:'));
      assert.equal(byIp.get('198.51.100.10')?.status, 404);
      const message = t.messages.find((m) => m.topic === TOPICS.requests)!;
      assert.equal(message.headers[SCHEMA_HEADER], 'RequestEvent');
      assert.equal(message.key?.toString(), t.requests()[0]!.ip, 'keyed by IP');
    } finally {
      await t.close();
    }
  });

  test('client IP: forwarding headers count only from trusted proxies; Fastify\'s own trustProxy is not consulted', async () => {
    const t = await start({ trustedProxies: ['10.0.0.0/8'] });
    try {
      await (await t.get('203.0.113.66')).text(); // the peer 127.0.0.1 is not trusted: the header is a spoof
      await until(() => t.requests().length === 1);
      assert.equal(t.requests()[0]!.ip, '127.0.0.1');
    } finally {
      await t.close();
    }
  });

  test('blocked clients get 403 (JSON for API clients) before any route runs, and are logged, marked blocked; the allowlist wins', async () => {
    const blockMirror = await loadedMirror(['203.0.113.0/24'], ['203.0.113.10']);
    let routeRuns = 0;
    // A hook registered after the plugin runs only for requests ipwatch let through.
    const blocked = { text: 'go away', json: { error: 'blocked' } };
    const t = await start({ blockMirror, blocked }, (app) => app.addHook('onRequest', async () => void routeRuns++));
    try {
      await expectBlockedAnswers(t, blocked, '203.0.113.7', '203.0.113.8');
      assert.equal((await t.get('203.0.113.10')).status, 200, 'allowlisted inside the blocked range');
      assert.equal((await t.get('198.51.100.1')).status, 200);
      await until(() => t.requests().length === 4);
      const byIp = new Map(t.requests().map((e) => [e.ip, e]));
      assert.equal(byIp.get('203.0.113.7')?.blocked, true);
      assert.equal(byIp.get('203.0.113.7')?.status, 403);
      assert.equal(byIp.get('203.0.113.10')?.blocked, false);
      assert.deepEqual({ blocked: t.stats().blocked, allowlisted: t.stats().allowlisted }, { blocked: 2, allowlisted: 1 });
      assert.equal(routeRuns, 2, 'blocked requests never reached later hooks');
    } finally {
      await t.close();
      await blockMirror.close();
    }
  });

  test('rate limits at entry: 429 with Retry-After and RateLimit headers, events marked, refusals folded into one RateLimitEvent', async () => {
    const rateLimiter = createRateLimiter({ rules: { anonymous: '3/m', authenticated: false, login: false } });
    const t = await start({ rateLimiter });
    try {
      await expectThreeAMinuteLimit(t);
    } finally {
      await t.close();
      await rateLimiter.close();
    }
  });

  test("rateLimitAt 'mounted' checks in preHandler, after Fastify parsed the body: the login limit counts per username across addresses", async () => {
    const rateLimiter = createRateLimiter({ rules: { anonymous: false, authenticated: false, login: { rate: '3/5m', paths: ['/login'] } } });
    const t = await start({ rateLimiter, rateLimitAt: 'mounted' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        // a new address each time: only the per-username count can refuse
        const res = await fetch(`${t.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${30 + i}` }, body: JSON.stringify({ username: 'alice', password: 'guess' }) });
        statuses.push(res.status);
        await res.text();
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      await until(() => t.limits().length > 0);
      assert.deepEqual([...new Set(t.limits().map((e) => `${e.rule} ${e.limitKey}`))], ['login-user login-user:alice']);
    } finally {
      await t.close();
      await rateLimiter.close();
    }
  });

  test('a Kafka that is down (a real client, nothing listening): requests answered fast, failures counted, nothing thrown', async () => {
    const log = createKafkaEventLog({ brokers: ['127.0.0.1:1'], clientId: 'fastify-down', connectionTimeoutMs: 200, requestTimeoutMs: 500, log: () => {} });
    const t = await start({ log, bufferOptions: { maxEvents: 20, flushIntervalMs: 1, retryMinMs: 5, retryMaxMs: 20 } });
    try {
      const started = performance.now();
      for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 10 }, async () => assert.equal((await t.get('198.51.100.5')).status, 200)));
      const perRequestMs = (performance.now() - started) / 50;
      assert.ok(perRequestMs < 100, `requests took ${perRequestMs} ms each`);
      await until(() => t.stats().recorded === 50, '50 recorded');
      const s = t.stats();
      assert.equal(s.sent, 0);
      assert.ok(s.buffered <= 20, `held up to the bound (${s.buffered})`);
      assert.equal(s.buffered + s.dropped, 50, 'every event is buffered or counted as dropped');
    } finally {
      await t.app.close(); // flushes for up to 5 s, then drops and counts
      await log.close();
    }
  });

  test('bad input fails at start with a coded error: registered twice, no log, an unknown or wrong-typed option', async () => {
    const log = createMemoryEventLog();
    try {
      const twice = Fastify();
      await twice.register(ipwatchFastify, { log });
      twice.register(ipwatchFastify, { log });
      await assert.rejects(async () => void (await twice.ready()), (err: Error & { code?: string }) => err.code === 'IPWATCH_PLUGIN_REGISTERED_TWICE' && /register it once/.test(err.message));
      await twice.close();

      for (const [options, code, message] of [
        [{}, 'IPWATCH_NO_EVENT_LOG', /createKafkaEventLog/],
        [{ log, trustedProxie: ['10.0.0.0/8'] }, 'IPWATCH_BAD_OPTION', /unknown option "trustedProxie" \(did you mean trustedProxies\?\)/],
        [{ log, trustedProxies: ['10.0.0.0/33'] }, 'IPWATCH_BAD_OPTION', /10\.0\.0\.0\/33/],
        [{ log, rateLimitAt: 'later', rateLimiter: createRateLimiter({ rules: { anonymous: '5/m', authenticated: false, login: false } }) }, 'IPWATCH_BAD_OPTION', /rateLimitAt/],
      ] as const) {
        const app = Fastify();
        app.register(ipwatchFastify, options as never);
        await assert.rejects(async () => void (await app.ready()), (err: Error & { code?: string }) => err.code === code && message.test(err.message), `${JSON.stringify(Object.keys(options))} -> ${code}`);
        await app.close();
      }
    } finally {
      await log.close();
    }
  });

  test('Fastify\'s register options (prefix) are not taken for ipwatch options, and the plugin sees routes of child contexts', async () => {
    const log = createMemoryEventLog();
    const messages: LogMessage[] = [];
    const consumer = await log.consume({ groupId: 'read', topics: [TOPICS.requests], handle: async (b) => void messages.push(...b.messages) });
    const app = Fastify();
    await app.register(ipwatchFastify, { log, prefix: '/ignored', bufferOptions: { flushIntervalMs: 5 } } as IpwatchFastifyOptions);
    await app.register(async (child) => void child.get('/inner', async () => 'inner'), { prefix: '/v1' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/inner`);
      assert.equal(await res.text(), 'inner');
      await until(() => messages.length === 1);
      assert.equal(codecs.RequestEvent.decode(messages[0]!.value!).path, '/v1/inner');
    } finally {
      await app.close();
      await consumer.stop();
      await log.close();
    }
  });
});
