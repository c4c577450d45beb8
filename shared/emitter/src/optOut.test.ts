/**
 * Opt-out in the emitter: the `optOut` hook and the Global Privacy Control signal
 * (`honourGpc`) withhold a request's event (nothing personal leaves the app), while blocks
 * and rate limits apply to the client exactly as to anyone else. The same through the
 * Express middleware, the Fastify plugin and node:http, over the in-process log; and in hash
 * mode the network beside the pseudonym, for the enricher's geolocation.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { codecs, type RateLimitEvent, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { ipwatch } from './express.ts';
import { ipwatchFastify, type IpwatchFastifyDecoration } from './fastify.ts';
import { withIpwatch } from './node.ts';
import type { IpwatchOptions, IpwatchStats } from './tracker.ts';
import type { RequestUser } from './requestEvent.ts';
import { createIpAnonymiser } from './anonymise.ts';
import { encodeRequestEvent } from './requestEventCodec.ts';
import { createRateLimiter } from './rateLimit/rateLimiter.ts';
import { EmitterOptionError } from './errors.ts';
import { loadedMirror, until } from './adapterExpectations.test-support.ts';

type Adapter = 'express' | 'fastify' | 'node';
type AnyRequest = { headers: IncomingMessage['headers'] };

/** The app's own user hook: the user is whoever x-user names. */
const userOf = (req: AnyRequest): RequestUser | null => (typeof req.headers['x-user'] === 'string' ? { id: req.headers['x-user'], authenticated: true } : null);

/** One app on one adapter, with the in-process log and a reader of both topics. */
async function start(adapter: Adapter, options: Omit<IpwatchOptions<AnyRequest>, 'log'> = {}) {
  const log = createMemoryEventLog();
  // One set of options for every adapter: each types its request its own way; the hooks only read headers.
  const all = { log, app: 'shop', trustedProxies: ['127.0.0.1'], bufferOptions: { flushIntervalMs: 5 }, ...options } as unknown as IpwatchOptions;
  let url: string;
  let stats: () => IpwatchStats;
  let stop: () => Promise<void>;
  if (adapter === 'fastify') {
    const app: FastifyInstance = Fastify();
    await app.register(ipwatchFastify, all as never);
    app.get('/*', async () => 'hello');
    app.post('/login', async (_req, reply) => reply.code(401).send({ ok: false }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    stats = () => (app as unknown as { ipwatch: IpwatchFastifyDecoration }).ipwatch.stats();
    stop = () => app.close();
  } else {
    let server: Server;
    if (adapter === 'express') {
      const tracker = ipwatch(all);
      const app = express();
      app.use(tracker);
      app.post('/login', (_req, res) => void res.status(401).json({ ok: false }));
      app.get(/.*/, (_req, res) => void res.send('hello'));
      server = app.listen(0, '127.0.0.1');
      stats = () => tracker.stats();
      stop = async () => {
        server.closeAllConnections();
        server.close();
        await tracker.close();
      };
    } else {
      const handler = withIpwatch((req, res) => {
        res.statusCode = req.url === '/login' ? 401 : 200;
        res.end('hello');
      }, all);
      server = createServer(handler).listen(0, '127.0.0.1');
      stats = () => handler.stats();
      stop = async () => {
        server.closeAllConnections();
        server.close();
        await handler.close();
      };
    }
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const messages: LogMessage[] = [];
  const consumer = await log.consume({ groupId: 'read', topics: [TOPICS.requests, TOPICS.rateLimit], handle: async (b) => void messages.push(...b.messages) });
  return {
    stats: () => stats(),
    messages,
    async get(ip: string, path = '/hello', headers: Record<string, string> = {}, method = 'GET'): Promise<number> {
      const res = await fetch(`${url}${path}`, { method, headers: { 'x-forwarded-for': ip, 'user-agent': 'Browser/1.0', referer: 'https://ref.example/', ...headers } });
      await res.text();
      return res.status;
    },
    requests: (): RequestEvent[] => messages.filter((m) => m.topic === TOPICS.requests).map((m) => codecs.RequestEvent.decode(m.value!)),
    limits: (): RateLimitEvent[] => messages.filter((m) => m.topic === TOPICS.rateLimit).map((m) => codecs.RateLimitEvent.decode(m.value!)),
    async close() {
      await stop();
      await consumer.stop();
      await log.close();
    },
  };
}

/** The fields a withheld event keeps, and those it clears, of one event. */
function shape(e: RequestEvent) {
  return { ip: e.ip, userId: e.userId, loginUser: e.loginUser, userAgent: e.userAgent, referer: e.referer, path: e.path, network: e.network, method: e.method, status: e.status, app: e.app, authenticated: e.authenticated, login: e.login };
}

describe.each(['express', 'fastify', 'node'] as const)('opt-out through %s', (adapter) => {
  test('the optOut hook (after the user hook, with its answer) withholds the event; a throwing hook counts as opted out', async () => {
    const asked: Array<string | null> = [];
    const t = await start(adapter, {
      user: userOf,
      optOut: (req, user) => {
        asked.push(user?.id ?? null);
        if (req.headers['x-break'] === '1') throw new Error('the preference store is down');
        return user?.id === 'bob';
      },
      login: { paths: ['/login'], username: (req) => String(req.headers['x-username'] ?? '') || null },
    });
    try {
      assert.equal(await t.get('198.51.100.1', '/users/alice?tab=1', { 'x-user': 'alice' }), 200);
      assert.equal(await t.get('198.51.100.2', '/users/bob?tab=1', { 'x-user': 'bob' }), 200);
      assert.equal(await t.get('198.51.100.3', '/users/carol', { 'x-user': 'carol', 'x-break': '1' }), 200);
      assert.equal(await t.get('198.51.100.2', '/login', { 'x-user': 'bob', 'x-username': 'bob@example.com' }, 'POST'), 401);
      await until(() => t.requests().length === 4, 'four events');
      const byPath = t.requests();
      assert.deepEqual(shape(byPath.find((e) => e.userId === 'alice')!), {
        ip: '198.51.100.1', userId: 'alice', loginUser: null, userAgent: 'Browser/1.0', referer: 'https://ref.example/', path: '/users/alice?tab=1', network: null, method: 'GET', status: 200, app: 'shop', authenticated: true, login: 'none',
      });
      const withheld = byPath.filter((e) => e.ip === '::');
      assert.equal(withheld.length, 3, 'bob twice, and carol whose hook threw');
      const nothingPersonal = { ip: '::', userId: null, loginUser: null, userAgent: '', referer: '', path: '', network: null, app: 'shop', authenticated: true };
      assert.deepEqual(withheld.map((e) => ({ ...shape(e), method: undefined, status: undefined, login: undefined })), withheld.map(() => ({ ...nothingPersonal, method: undefined, status: undefined, login: undefined })));
      // What is not personal stays, so the figures add up: methods, statuses, the login's outcome.
      assert.deepEqual(withheld.map((e) => [e.method, e.status, e.login]).sort(), [['GET', 200, 'none'], ['GET', 200, 'none'], ['POST', 401, 'failed']]);
      // No message names a withheld visitor, not even by its key.
      const keys = t.messages.filter((m) => m.topic === TOPICS.requests).map((m) => String(m.key));
      assert.ok(!keys.includes('198.51.100.2') && !keys.includes('198.51.100.3'), keys.join(' '));
      assert.ok(!t.messages.some((m) => /198\.51\.100\.[23]|bob|carol/.test(m.value!.toString('latin1'))), 'no address or name in any bytes sent');
      assert.deepEqual(asked.sort(), ['alice', 'bob', 'bob', 'carol']);
      const s = t.stats();
      assert.deepEqual([s.withheld, s.optOutHookErrors, s.recorded], [3, 1, 4]);
    } finally {
      await t.close();
    }
  });

  test('an opted-out client that is blocked is still refused (403), and one over the rate limit still limited (429); what leaves the app names nobody', async () => {
    const blockMirror = await loadedMirror(['203.0.113.66']);
    const rateLimiter = createRateLimiter({ rules: { anonymous: '2/m', authenticated: false, login: false } });
    const t = await start(adapter, { honourGpc: true, optOut: (req) => req.headers['x-no-track'] === '1', blockMirror, rateLimiter });
    try {
      assert.equal(await t.get('203.0.113.66', '/hello', { 'sec-gpc': '1' }), 403);
      assert.equal(await t.get('203.0.113.66', '/hello', { 'x-no-track': '1' }), 403);
      const limited: number[] = [];
      for (let i = 0; i < 4; i++) limited.push(await t.get('198.51.100.50', `/page/${i}`, { 'sec-gpc': '1' }));
      assert.deepEqual(limited, [200, 200, 429, 429]);
      await until(() => t.requests().length === 6 && t.limits().length === 1, 'six events and one rate-limit event');
      assert.ok(t.requests().every((e) => e.ip === '::' && e.path === '' && e.userAgent === ''));
      assert.deepEqual(t.requests().map((e) => [e.status, e.blocked, e.rateLimited]), [[403, true, false], [403, true, false], [200, false, false], [200, false, false], [429, false, true], [429, false, true]]);
      const [refusals] = t.limits() as [RateLimitEvent];
      assert.deepEqual({ ip: refusals.ip, limitKey: refusals.limitKey, path: refusals.path, userId: refusals.userId, count: refusals.count, rule: refusals.rule }, { ip: '::', limitKey: '::', path: '', userId: null, count: 2, rule: 'anonymous' });
      assert.ok(!t.messages.some((m) => String(m.key).includes('198.51.100.50') || String(m.key).includes('203.0.113.66')));
      assert.equal(t.stats().blocked, 2);
      assert.equal(t.stats().rateLimited, 2);
    } finally {
      await t.close();
      await blockMirror.close();
      await rateLimiter.close();
    }
  });
});

describe('the Global Privacy Control signal', () => {
  test('honoured only when honourGpc is on, and only for Sec-GPC: 1', async () => {
    for (const honourGpc of [true, false]) {
      const t = await start('express', { honourGpc });
      try {
        await t.get('198.51.100.7', '/a', { 'sec-gpc': '1' });
        await t.get('198.51.100.8', '/b', { 'sec-gpc': '0' });
        await t.get('198.51.100.9', '/c');
        await until(() => t.requests().length === 3, 'three events');
        const ips = t.requests().map((e) => e.ip).sort();
        assert.deepEqual(ips, honourGpc ? ['198.51.100.8', '198.51.100.9', '::'] : ['198.51.100.7', '198.51.100.8', '198.51.100.9'], `honourGpc ${honourGpc}`);
        assert.equal(t.stats().withheld, honourGpc ? 1 : 0);
      } finally {
        await t.close();
      }
    }
  });

  test('an asynchronous hook (a Promise cannot be read in time) counts as opted out, and as a hook error', async () => {
    const t = await start('node', { optOut: (async () => false) as never });
    try {
      await t.get('198.51.100.11');
      await until(() => t.requests().length === 1);
      assert.equal(t.requests()[0]!.ip, '::');
      assert.deepEqual([t.stats().withheld, t.stats().optOutHookErrors], [1, 1]);
    } finally {
      await t.close();
    }
  });
});

describe('options, checked at start', () => {
  test('a wrong optOut, honourGpc or keepNetwork throws a coded error naming what to write', () => {
    const log = createMemoryEventLog();
    const bad = (options: object, message: RegExp) =>
      assert.throws(() => ipwatch({ log, ...options } as never), (err: unknown) => err instanceof EmitterOptionError && err.code === 'IPWATCH_BAD_OPTION' && message.test(err.message), JSON.stringify(options));
    bad({ optOut: true }, /^optOut must be a function \(req, user\) => true to withhold/);
    bad({ honourGpc: 'yes' }, /^honourGpc must be true or false, not "yes"$/);
    bad({ honourGPC: true }, /unknown option "honourGPC" \(did you mean honourGpc\?\)/);
    bad({ anonymise: { mode: 'truncate', keepNetwork: false } }, /keepNetwork is only used in anonymise mode 'hash'/);
    bad({ anonymise: { mode: 'hash', key: 'k'.repeat(16), keepNetwork: 'no' } }, /^keepNetwork must be true or false, not "no"$/);
    void log.close();
  });
});

describe('hash mode keeps the network, for geolocation', () => {
  const key = 'a test key of at least 16 bytes';

  test('the anonymiser gives the /24 (or /48) beside the pseudonym; none with keepNetwork false, nor in the other modes', () => {
    const hash = createIpAnonymiser({ mode: 'hash', key });
    assert.equal(hash.network('203.0.113.77'), '203.0.113.0/24');
    assert.equal(hash.network('::ffff:203.0.113.77'), '203.0.113.0/24');
    assert.equal(hash.network('2001:db8:1:2::3'), '2001:db8:1::/48');
    assert.equal(hash.network('not an address'), null);
    assert.equal(createIpAnonymiser({ mode: 'hash', key, v4Prefix: 16 }).network('203.0.113.77'), '203.0.0.0/16');
    assert.equal(createIpAnonymiser({ mode: 'hash', key, keepNetwork: false }).network('203.0.113.77'), null);
    assert.equal(createIpAnonymiser({ mode: 'truncate' }).network('203.0.113.77'), null);
    assert.equal(createIpAnonymiser({ mode: 'off' }).network('203.0.113.77'), null);
  });

  test('events carry it beside the pseudonym (the key stays the pseudonym); an opted-out one carries neither', async () => {
    const t = await start('express', { anonymise: { mode: 'hash', key }, honourGpc: true });
    const pseudonym = createIpAnonymiser({ mode: 'hash', key }).anonymise('203.0.113.77');
    try {
      await t.get('203.0.113.77');
      await t.get('203.0.113.78', '/x', { 'sec-gpc': '1' });
      await until(() => t.requests().length === 2);
      const [kept, withheld] = t.requests() as [RequestEvent, RequestEvent];
      assert.deepEqual([kept.ip, kept.network, kept.ipAnonymisation], [pseudonym, '203.0.113.0/24', 'hash']);
      assert.equal(String(t.messages[0]!.key), pseudonym);
      assert.deepEqual([withheld.ip, withheld.network], ['::', null]);
    } finally {
      await t.close();
    }
    const off = await start('express', { anonymise: { mode: 'hash', key, keepNetwork: false } });
    try {
      await off.get('203.0.113.77');
      await until(() => off.requests().length === 1);
      assert.equal(off.requests()[0]!.network, null);
    } finally {
      await off.close();
    }
  });

  test("the emitter's fast encoder writes the network as the schema's own encoder does", () => {
    const event: RequestEvent = {
      id: '00000000-0000-4000-8000-000000000001', ts: 1, ip: '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901', ipAnonymisation: 'hash', app: 'a', instance: 'i', method: 'GET', host: 'h', path: '/',
      status: 200, latencyMs: 1, bytes: 0, userAgent: '', referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false, login: 'none', loginUser: null,
    };
    for (const network of ['203.0.113.0/24', '2001:db8:1::/48', null]) {
      const bytes = encodeRequestEvent({ ...event, network });
      assert.deepEqual(bytes, codecs.RequestEvent.encode({ ...event, network }));
      assert.deepEqual({ ...codecs.RequestEvent.decode(bytes) }, { ...event, network });
    }
    // Left out (an older caller), it is written as the default, null.
    assert.equal(codecs.RequestEvent.decode(encodeRequestEvent(event)).network, null);
  });
});
