/**
 * Enforcement in the Express middleware, in process: the in-process shared lists and event
 * log, the in-memory limiter. (Across processes, with Kafka and Redis: test/enforcement.kafka.redis.chdb.test.ts.)
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { codecs, type RequestEvent, type RateLimitEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { ipwatch } from './express.ts';
import { createRateLimiter } from './rateLimit/rateLimiter.ts';
import { expectBlockedAnswers, expectThreeAMinuteLimit, loadedMirror, until } from './adapterExpectations.test-support.ts';

const blocked = { text: 'go away', json: { error: 'blocked', contact: 'abuse@example.com' } };

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
    blocked,
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

test('blocked clients get 403 (JSON for API clients) and their requests are logged, marked blocked', async () => {
  const t = await setup();
  try {
    await expectBlockedAnswers(t, blocked, '203.0.113.7', '2001:db8:bad:1::1');
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

test('bad enforcement options fail at start with a message naming what to write', async () => {
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror([]);
  try {
    assert.throws(() => ipwatch({ log, blockMirror, blocked: { status: 200 } }), /^EmitterOptionError: blocked.status must be an HTTP error status, a whole number from 400 to 599, not 200$/);
    assert.throws(() => ipwatch({ log, blockMirror, blocked: { text: 42 as never } }), /^EmitterOptionError: blocked.text must be a string, the body blocked clients read, not 42$/);
    assert.throws(() => ipwatch({ log, blockMirror, rateLimitAt: 'later' as never }), /^EmitterOptionError: rateLimitAt must be 'entry' \(on arrival, the default\) or 'mounted' \(where tracker.limit\(\) is mounted\), not "later"$/);
    assert.throws(() => ipwatch({ log, blockMirror: {} as never }), /^EmitterOptionError: ipwatch\(\): blockMirror must be a mirror from createBlockMirror\(\), not an object without check\(\)$/);
    assert.throws(() => ipwatch({ log, rateLimiter: 'redis://x' as never }), /^EmitterOptionError: ipwatch\(\): rateLimiter must be a limiter from createRateLimiter\(\), not "redis:\/\/x"$/);
  } finally {
    await blockMirror.close();
    await log.close();
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
      await expectThreeAMinuteLimit(t);
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

/** An Express login page behind ipwatch with limits mounted after both body parsers (form and JSON), as the README shows. */
async function loginApp(login: { allowlisted?: 'per-username' | 'exempt' } = {}) {
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror([], ['10.1.0.0/16']);
  const rateLimiter = createRateLimiter({ rules: { anonymous: false, authenticated: false, login: { rate: '3/5m', ...login } } });
  const tracker = ipwatch({ log, trustedProxies: ['127.0.0.1'], blockMirror, rateLimiter, rateLimitAt: 'mounted' });
  const app = express();
  app.use(tracker);
  app.use(express.urlencoded({ extended: false, limit: '1kb' }));
  app.use(express.json({ limit: '1kb' }));
  app.use(tracker.limit());
  app.post('/login', (_req, res) => void res.status(401).json({ error: 'wrong password' }));
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(400).json({ error: 'bad request' }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/login`;
  const post = async (ip: string, body: string, type = 'application/x-www-form-urlencoded') => {
    const res = await fetch(url, { method: 'POST', headers: { 'x-forwarded-for': ip, 'content-type': type }, body });
    await res.arrayBuffer();
    return res;
  };
  return {
    post,
    tracker,
    async close() {
      server.closeAllConnections();
      server.close();
      await tracker.close();
      await blockMirror.close();
      await rateLimiter.close();
      await log.close();
    },
  };
}

test('an allowlisted password guesser is still refused per username (rules.login.allowlisted, default per-username); exempt lets it through', async () => {
  const t = await loginApp();
  try {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.post('10.1.0.7', 'username=alice&password=guess')).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    assert.equal(t.tracker.stats().allowlisted, 5);
    // the per-IP login limit still skips the allowlist: other usernames from the same address get their tries
    assert.equal((await t.post('10.1.0.7', 'username=bob&password=guess')).status, 401);
    assert.equal((await t.post('198.51.100.9', 'username=alice&password=guess')).status, 429, 'and alice is locked for everyone');
  } finally {
    await t.close();
  }
  const exempt = await loginApp({ allowlisted: 'exempt' });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await exempt.post('10.1.0.7', 'username=alice&password=guess')).status, 401);
  } finally {
    await exempt.close();
  }
});

test('a username sent as a list (username=a&username=a) or an object is counted, not dropped', async () => {
  const t = await loginApp();
  try {
    const statuses = [];
    // each from a new address, so only the per-username limit can refuse
    for (let i = 0; i < 4; i++) statuses.push((await t.post(`198.51.100.${i + 1}`, 'username=alice&username=alice&password=guess')).status);
    assert.equal((await t.post('198.51.100.20', 'username=ALICE&password=guess')).status, 429, 'the list counted under alice');
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const objects = [];
    for (let i = 0; i < 4; i++) objects.push((await t.post(`198.51.100.${30 + i}`, JSON.stringify({ username: { $ne: `x${i}` }, password: 'guess' }), 'application/json')).status);
    assert.deepEqual(objects, [401, 401, 401, 429], 'every malformed username shares one key');
  } finally {
    await t.close();
  }
});

test('with limits mounted, a login the body parser refuses (400) still counts per IP: the per-IP login limit is counted on arrival', async () => {
  const t = await loginApp();
  try {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.post('198.51.100.50', '{"username": "alice", broken', 'application/json')).status);
    statuses.push((await t.post('198.51.100.50', 'x'.repeat(4096))).status); // over the parser's size limit
    statuses.push((await t.post('198.51.100.50', 'username=bob&password=guess')).status);
    assert.deepEqual(statuses, [400, 400, 400, 429, 429]);
    const ok = await t.post('198.51.100.51', 'username=carol&password=guess');
    assert.equal(ok.status, 401);
    assert.equal(ok.headers.get('ratelimit-policy'), '"login";q=3;w=300, "login-user";q=3;w=300', 'both stages list their policies');
    // t: until the count leaves with its bucket (a tenth of the 5-minute window, rateLimit/buckets.ts): 301 to 330 s
    assert.match(ok.headers.get('ratelimit') ?? '', /^"login";r=2;t=(30[1-9]|3[12]\d|330), "login-user";r=2;t=(30[1-9]|3[12]\d|330)$/);
  } finally {
    await t.close();
  }
});
