/**
 * Enforcement in the Express middleware, in process: the in-process shared lists and event
 * log, the in-memory limiter. (Across processes, with Kafka and Redis: test/enforcement.kafka.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { codecs, type RequestEvent, type RateLimitEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { ipwatch } from './express.ts';
import { createBlockMirror } from './blockMirror/blockMirror.ts';
import { createRateLimiter } from './rateLimit/rateLimiter.ts';

const entry = (target: string) => ({ target, expiresAt: null, record: '{}' });

/** A block mirror over in-process lists holding these targets, loaded. */
async function loadedMirror(blocks: string[], allow: string[] = []) {
  const lists = createMemorySharedLists();
  await lists.replace('blocks', blocks.map(entry));
  await lists.replace('allow', allow.map(entry));
  const blockMirror = createBlockMirror({ lists });
  await blockMirror.ready;
  return blockMirror;
}

async function setup(options: { anonymise?: boolean; at?: 'entry' | 'mounted' } = {}) {
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror(['203.0.113.0/24', '2001:db8:bad::/48'], ['203.0.113.10']);
  const rateLimiter = createRateLimiter({ rules: { anonymous: '3/m', authenticated: false, login: false } });
  const tracker = ipwatch({
    log,
    app: 'shop',
    trustedProxies: ['127.0.0.1'],
    bufferOptions: { flushIntervalMs: 5 },
    blockMirror,
    rateLimiter,
    rateLimitAt: options.at ?? 'entry',
    blocked: { text: 'go away', json: { error: 'blocked', contact: 'abuse@example.com' } },
    ...(options.anonymise && { anonymise: { mode: 'truncate' as const } }),
  });
  const app = express();
  app.use(tracker);
  if (options.at === 'mounted') app.use(tracker.limit());
  app.get('/hello', (_req, res) => void res.send('hello'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = (ip: string, headers: Record<string, string> = {}) => fetch(`${url}/hello`, { headers: { 'x-forwarded-for': ip, ...headers } });
  const messages: LogMessage[] = [];
  const consumer = await log.consume({ groupId: 'read', topics: [TOPICS.requests, TOPICS.rateLimit], handle: async (b) => void messages.push(...b.messages) });
  return {
    get,
    tracker,
    messages,
    requests: () => messages.filter((m) => m.topic === TOPICS.requests).map((m) => codecs.RequestEvent.decode(m.value!)),
    limits: () => messages.filter((m) => m.topic === TOPICS.rateLimit).map((m) => codecs.RateLimitEvent.decode(m.value!)),
    async close() {
      server.closeAllConnections();
      server.close();
      await tracker.close();
      await consumer.stop();
      await blockMirror.close();
      await rateLimiter.close();
      await log.close();
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('blocked clients get 403 (JSON for API clients) and their requests are logged, marked blocked', async () => {
  const t = await setup();
  try {
    const text = await t.get('203.0.113.7');
    assert.equal(text.status, 403);
    assert.equal(await text.text(), 'go away');
    const json = await t.get('2001:db8:bad:1::1', { accept: 'application/json' });
    assert.equal(json.status, 403);
    assert.deepEqual(await json.json(), { error: 'blocked', contact: 'abuse@example.com' });
    assert.equal((await t.get('198.51.100.1')).status, 200);
    await until(() => t.requests().length === 3);
    const byIp = new Map(t.requests().map((e: RequestEvent) => [e.ip, e]));
    assert.equal(byIp.get('203.0.113.7')?.blocked, true);
    assert.equal(byIp.get('203.0.113.7')?.status, 403);
    assert.equal(byIp.get('198.51.100.1')?.blocked, false);
    assert.equal(t.tracker.stats().blocked, 2);
  } finally {
    await t.close();
  }
});

test('the allowlist wins over a block and over the rate limit', async () => {
  const t = await setup();
  try {
    for (let i = 0; i < 6; i++) assert.equal((await t.get('203.0.113.10')).status, 200);
    assert.equal(t.tracker.stats().allowlisted, 6);
  } finally {
    await t.close();
  }
});

for (const at of ['entry', 'mounted'] as const) {
  test(`rate limits (checked at ${at}): 429 with Retry-After and RateLimit headers, events marked, refusals folded into one RateLimitEvent`, async () => {
    const t = await setup({ at });
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 6; i++) {
        last = await t.get('198.51.100.20');
        statuses.push(last.status);
        await last.text();
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
      assert.ok(Number(last!.headers.get('retry-after')) > 0);
      assert.equal(last!.headers.get('ratelimit-policy'), '"anonymous";q=3;w=60');
      await until(() => t.requests().length === 6);
      assert.equal(t.requests().filter((e) => e.rateLimited && e.status === 429).length, 3);
      await until(() => t.limits().length > 0);
      const [event] = t.limits() as [RateLimitEvent];
      assert.equal(t.limits().length, 1);
      assert.deepEqual({ ip: event.ip, rule: event.rule, limitKey: event.limitKey, count: event.count, limit: event.limit, app: event.app }, { ip: '198.51.100.20', rule: 'anonymous', limitKey: '198.51.100.20', count: 3, limit: 3, app: 'shop' });
    } finally {
      await t.close();
    }
  });
}

test('with anonymisation on, rate-limit events leave the app anonymised too', async () => {
  const t = await setup({ anonymise: true });
  try {
    for (let i = 0; i < 4; i++) await (await t.get('198.51.100.77')).text();
    await until(() => t.limits().length > 0);
    const [event] = t.limits() as [RateLimitEvent];
    assert.equal(event.ip, '198.51.100.0');
    assert.equal(event.limitKey, '198.51.100.0');
    assert.ok(t.messages.every((m) => !m.value!.toString('latin1').includes('198.51.100.77')), 'the real address appears in no event');
  } finally {
    await t.close();
  }
});

test('plain node:http (withIpwatch) enforces the same way, and a listener is never run twice', async () => {
  const { createServer } = await import('node:http');
  const { withIpwatch } = await import('./node.ts');
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror(['203.0.113.0/24']);
  const rateLimiter = createRateLimiter({ rules: { anonymous: '2/m', authenticated: false, login: false } });
  let runs = 0;
  const handler = withIpwatch((_req, res) => {
    runs++;
    res.end('hi');
  }, { log, trustedProxies: ['127.0.0.1'], blockMirror, rateLimiter });
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const statuses = [];
    for (const ip of ['203.0.113.1', '198.51.100.1', '198.51.100.1', '198.51.100.1']) statuses.push((await fetch(url, { headers: { 'x-forwarded-for': ip } })).status);
    assert.deepEqual(statuses, [403, 200, 200, 429]);
    assert.equal(runs, 2);
  } finally {
    server.close();
    await handler.close();
    await blockMirror.close();
    await rateLimiter.close();
    await log.close();
  }
});

test('a login limit per username checked at entry (before any body parser) is warned about at start', async () => {
  const log = createMemoryEventLog();
  const rateLimiter = createRateLimiter({ rules: { login: { rate: '3/5m' } } });
  const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
  const tracker = ipwatch({ log, rateLimiter });
  const warning = (await warned) as Error & { code?: string };
  assert.equal(warning.code, 'IPWATCH_LOGIN_LIMIT_AT_ENTRY');
  assert.match(warning.message, /rateLimitAt: 'mounted'/);
  await tracker.close();
  await rateLimiter.close();
  await log.close();
});

test('WebSocket upgrades: allowUpgrade answers a blocked client 403 and lets others on', async () => {
  const { createServer, request } = await import('node:http');
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror(['203.0.113.0/24']);
  const tracker = ipwatch({ log, trustedProxies: ['127.0.0.1'], blockMirror });
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', (req, socket) => {
    if (tracker.allowUpgrade(req, socket)) socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const upgrade = (ip: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, headers: { connection: 'Upgrade', upgrade: 'test', 'x-forwarded-for': ip } });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('error', reject);
      req.end();
    });
  try {
    assert.equal(await upgrade('203.0.113.5'), 403);
    assert.equal(await upgrade('198.51.100.5'), 101);
    assert.equal(tracker.stats().blocked, 1);
  } finally {
    server.close();
    await tracker.close();
    await blockMirror.close();
    await log.close();
  }
});

test("the authenticated class counts per user (from the app's user hook), whatever address the user comes from", async () => {
  const log = createMemoryEventLog();
  const rateLimiter = createRateLimiter({ rules: { anonymous: '100/m', authenticated: '2/m', login: false } });
  const tracker = ipwatch({
    log,
    trustedProxies: ['127.0.0.1'],
    rateLimiter,
    user: (req) => (typeof req.headers['x-user'] === 'string' ? { id: req.headers['x-user'], authenticated: true } : null),
  });
  const app = express();
  app.use(tracker);
  app.get('/hello', (_req, res) => void res.send('hello'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello`;
  try {
    const statuses = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) statuses.push((await fetch(url, { headers: { 'x-forwarded-for': ip, 'x-user': 'alice' } })).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.3', 'x-user': 'bob' } })).status, 200);
  } finally {
    server.closeAllConnections();
    server.close();
    await tracker.close();
    await rateLimiter.close();
    await log.close();
  }
});
