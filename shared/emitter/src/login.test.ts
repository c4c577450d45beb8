/**
 * Login reporting: the `login` option (paths, methods, failed statuses, username) and the
 * explicit loginFailed()/loginSucceeded() calls, through the framework-neutral tracker on
 * node:http and through each adapter (Express with a body parser, node:http, Fastify).
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { codecs, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { compileLoginReport, MAX_LOGIN_USER_LENGTH, withLimiterLoginRule, type LoginReportOptions } from './login.ts';
import { createTracker, type IpwatchOptions } from './tracker.ts';
import type { EventBuffer } from './eventBuffer.ts';
import { ipwatch } from './express.ts';
import { withIpwatch } from './node.ts';
import { ipwatchFastify, type IpwatchFastifyDecoration } from './fastify.ts';
import { createRateLimiter } from './rateLimit/rateLimiter.ts';
import { loadedMirror, until } from './adapterExpectations.test-support.ts';

describe('compileLoginReport', () => {
  test('paths match as the rate limiter matches them: no query, any case, trailing slash or not; only the methods given (POST by default)', () => {
    const report = compileLoginReport({ paths: ['/login', '/api/session'] })!;
    for (const url of ['/login', '/login/', '/LOGIN?next=/x', '/login#top', '/api/session', 'http://shop.example/login?x=1']) assert.equal(report.isLogin('POST', url), true, url);
    for (const url of ['/logins', '/log', '/login/x', '/', '', '/api/session/extra']) assert.equal(report.isLogin('POST', url), false, url);
    assert.equal(report.isLogin('GET', '/login'), false);
    assert.equal(report.isLogin(undefined, '/login'), false);
    assert.equal(report.isLogin('POST', undefined), false);
    const prefixed = compileLoginReport({ paths: ['/auth/*'], methods: ['post', 'PUT'] })!;
    assert.equal(prefixed.isLogin('PUT', '/auth/password'), true);
    assert.equal(prefixed.isLogin('POST', '/auth'), true);
    assert.equal(prefixed.isLogin('DELETE', '/auth/password'), false);
  });

  test('by default 400, 401, 403 and 422 are failures, other 2xx and 3xx successes, anything else says nothing; failed() replaces the list', () => {
    const report = compileLoginReport({ paths: ['/login'] })!;
    const outcomes = [400, 401, 403, 422, 200, 204, 302, 303, 404, 429, 499, 500, 503].map((s) => `${s}:${report.outcomeOf(s)}`);
    assert.deepEqual(outcomes, ['400:failed', '401:failed', '403:failed', '422:failed', '200:succeeded', '204:succeeded', '302:succeeded', '303:succeeded', '404:none', '429:none', '499:none', '500:none', '503:none']);
    const custom = compileLoginReport({ paths: ['/login'], failed: (s) => s === 200 || s === 418 })!;
    assert.deepEqual([200, 302, 401, 418].map((s) => custom.outcomeOf(s)), ['failed', 'succeeded', 'none', 'failed']);
  });

  test('off when not given (or false); a bad option fails at start with a message saying what to write', () => {
    assert.equal(compileLoginReport(undefined), null);
    assert.equal(compileLoginReport(false), null);
    const bad: Array<[unknown, RegExp]> = [
      [{}, /^EmitterOptionError: login.paths is required: the paths of your login form, e.g. \{ paths: \['\/login'\] \}/],
      ['/login', /^EmitterOptionError: login must be \{ paths, methods\?, failed\?, username\? \}/],
      [{ paths: '/login' }, /^EmitterOptionError: login.paths must be a non-empty list of paths/],
      [{ paths: ['login'] }, /^EmitterOptionError: login.paths: "login" is not a path rule/],
      [{ paths: ['/login'], methods: [] }, /^EmitterOptionError: login.methods must be a non-empty list of HTTP methods/],
      [{ paths: ['/login'], failed: 401 }, /^EmitterOptionError: login.failed must be a function \(status\) => boolean$/],
      [{ paths: ['/login'], username: 'email' }, /^EmitterOptionError: login.username must be a function/],
      [{ paths: ['/login'], path: '/x' }, /^EmitterOptionError: login: unknown option "path"; it takes paths, methods, failed and username$/],
    ];
    for (const [options, message] of bad) assert.throws(() => compileLoginReport(options as LoginReportOptions), message, JSON.stringify(options));
  });

  test("{} takes the rate limiter's login rule: its paths, methods and username hook; own paths keep the rule's username hook", async () => {
    const username = (req: IncomingMessage) => String(req.headers['x-user']);
    const limiter = createRateLimiter({ rules: { login: { paths: ['/signin'], methods: ['PUT'], username } } });
    try {
      const rule = limiter.loginRule!;
      assert.deepEqual({ paths: rule.paths, methods: rule.methods }, { paths: ['/signin'], methods: ['PUT'] });
      assert.deepEqual(withLimiterLoginRule({}, rule), { paths: ['/signin'], methods: ['PUT'], username });
      assert.deepEqual(withLimiterLoginRule({ paths: ['/login'] }, rule), { paths: ['/login'], username });
      const own = () => 'x';
      assert.deepEqual(withLimiterLoginRule({ paths: ['/login'], username: own }, rule), { paths: ['/login'], username: own });
      assert.equal(withLimiterLoginRule(undefined, rule), undefined);
      assert.deepEqual(withLimiterLoginRule({}, null), {});
    } finally {
      await limiter.close();
    }
    const off = createRateLimiter({ rules: { login: false } });
    assert.equal(off.loginRule, null);
    await off.close();
  });
});

/** Collects what the tracker pushes, decoded. */
function capture(): { buffer: EventBuffer; events: RequestEvent[] } {
  const events: RequestEvent[] = [];
  const buffer = {
    push(_key: string | null, value: Buffer) {
      events.push(codecs.RequestEvent.decode(value));
      return true;
    },
    flush: async () => true,
    close: async () => {},
    stats: () => ({ buffered: 0, sent: 0, dropped: 0, droppedByReason: { buffer_full: 0, closed: 0, close_timeout: 0 }, failures: 0, consecutiveFailures: 0, lastError: null, inFlightMs: null }),
  } satisfies EventBuffer;
  return { buffer, events };
}

/**
 * The framework-neutral tracker on a bare node:http server. Routes: any path answers the
 * status in `x-status`; `x-mark: failed|succeeded` has the handler call loginFailed /
 * loginSucceeded (with `x-mark-user` as the username when sent); `x-mark-late` calls it after the response.
 */
async function trackerServer(options: Omit<IpwatchOptions, 'buffer'>) {
  const got = capture();
  const tracker = createTracker<IncomingMessage>({ ...options, buffer: got.buffer, trustedProxies: ['127.0.0.1'] }, 'test');
  const late: boolean[] = [];
  const server = createServer((req, res) => {
    tracker.enter(req, res, req, () => {
      const mark = req.headers['x-mark'];
      const user = req.headers['x-mark-user'];
      const call = mark === 'failed' ? tracker.loginFailed : mark === 'succeeded' ? tracker.loginSucceeded : null;
      if (call && req.headers['x-mark-late'] === undefined) assert.equal(call(req, typeof user === 'string' ? user : undefined), true);
      res.statusCode = Number(req.headers['x-status'] ?? 200);
      res.end('ok');
      if (call && req.headers['x-mark-late'] !== undefined) res.once('finish', () => setImmediate(() => late.push(call(req, 'late'))));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    tracker,
    events: got.events,
    late,
    async send(path: string, headers: Record<string, string> = {}, method = 'POST'): Promise<RequestEvent> {
      const before = got.events.length;
      const res = await fetch(base + path, { method, headers: { 'x-forwarded-for': '198.51.100.7', ...headers } });
      await res.text();
      await until(() => got.events.length > before, `the event of ${method} ${path}`);
      return got.events[got.events.length - 1]!;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await tracker.close();
    },
  };
}

const loginOf = (e: RequestEvent) => [e.login, e.loginUser];

describe('login reporting through the tracker', () => {
  test('a login path reports failed or succeeded by status, with the username (sanitised, bounded); other requests say none and carry no username', async () => {
    const hostile = `a\u0007${'b'.repeat(300)}`;
    const t = await trackerServer({ login: { paths: ['/login'], username: (req) => (req.headers['x-user'] === 'hostile' ? hostile : (req.headers['x-user'] as string | undefined)) } });
    try {
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401', 'x-user': 'alice' })), ['failed', 'alice']);
      assert.deepEqual(loginOf(await t.send('/login/?next=/cart', { 'x-status': '302', 'x-user': 'alice' })), ['succeeded', 'alice']);
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '500', 'x-user': 'alice' })), ['none', null]);
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401', 'x-user': 'alice' }, 'GET')), ['none', null]);
      assert.deepEqual(loginOf(await t.send('/other', { 'x-status': '401', 'x-user': 'alice' })), ['none', null]);
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '403' })), ['failed', null], 'no username: null');
      const long = await t.send('/login', { 'x-status': '401', 'x-user': 'hostile' });
      assert.equal(long.loginUser, `a\ufffd${'b'.repeat(MAX_LOGIN_USER_LENGTH - 2)}`);
      assert.equal(t.tracker.stats().loginHookErrors, 0);
    } finally {
      await t.close();
    }
  });

  test('a username hook that throws or returns something else than a string: the attempt is reported without a username, a throw counted', async () => {
    let answer: () => unknown = () => 42;
    const t = await trackerServer({ login: { paths: ['/login'], username: () => answer() as string } });
    try {
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401' })), ['failed', null]);
      answer = () => ({ $ne: 'x' });
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401' })), ['failed', null]);
      answer = () => {
        throw new Error('hook bug');
      };
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401' })), ['failed', null]);
      assert.equal(t.tracker.stats().loginHookErrors, 1);
      assert.equal(t.tracker.stats().emitErrors, 0);
    } finally {
      await t.close();
    }
  });

  test('a failed() hook that throws: the attempt says none, counted', async () => {
    const t = await trackerServer({ login: { paths: ['/login'], failed: () => { throw new Error('bug'); } } });
    try {
      assert.deepEqual(loginOf(await t.send('/login', { 'x-status': '401' })), ['none', null]);
      assert.equal(t.tracker.stats().loginHookErrors, 1);
    } finally {
      await t.close();
    }
  });

  test('explicit calls mark any request, with or without the login option, and win over the status; without a username the hook reads it', async () => {
    const t = await trackerServer({ login: { paths: ['/login'], username: (req) => req.headers['x-user'] as string | undefined } });
    try {
      assert.deepEqual(loginOf(await t.send('/graphql', { 'x-mark': 'failed', 'x-mark-user': 'bob', 'x-status': '200' })), ['failed', 'bob']);
      assert.deepEqual(loginOf(await t.send('/graphql', { 'x-mark': 'succeeded', 'x-user': 'carol' })), ['succeeded', 'carol']);
      assert.deepEqual(loginOf(await t.send('/login', { 'x-mark': 'succeeded', 'x-status': '401', 'x-user': 'dave' })), ['succeeded', 'dave'], 'the call wins');
    } finally {
      await t.close();
    }
    const bare = await trackerServer({});
    try {
      assert.deepEqual(loginOf(await bare.send('/login', { 'x-status': '401' })), ['none', null], 'no login option: no path is a login');
      assert.deepEqual(loginOf(await bare.send('/x', { 'x-mark': 'failed', 'x-mark-user': 'erin' })), ['failed', 'erin']);
      assert.deepEqual(loginOf(await bare.send('/x', { 'x-mark': 'failed' })), ['failed', null], 'no body: the default hook finds no username');
    } finally {
      await bare.close();
    }
  });

  test('a call after the response is done changes nothing and returns false; a request ipwatch never saw is not marked', async () => {
    const t = await trackerServer({});
    try {
      assert.deepEqual(loginOf(await t.send('/x', { 'x-mark': 'failed', 'x-mark-late': '1' })), ['none', null]);
      await until(() => t.late.length === 1, 'the late call');
      assert.deepEqual(t.late, [false]);
      assert.equal(t.tracker.loginFailed({} as IncomingMessage, 'x'), false);
      assert.equal(t.tracker.loginSucceeded(null as unknown as IncomingMessage), false);
    } finally {
      await t.close();
    }
  });

  test('HTTP/1.1 pipelining: two requests in flight on one socket are each marked, not confused', async () => {
    const got = capture();
    const tracker = createTracker<IncomingMessage>({ buffer: got.buffer }, 'test');
    const order: string[] = [];
    const server = createServer((req, res) => {
      tracker.enter(req, res, req, () => {
        const first = req.url === '/first';
        order.push(`start ${req.url}`);
        setTimeout(() => {
          order.push(`mark ${req.url}`);
          assert.equal(first ? tracker.loginFailed(req, 'one') : tracker.loginSucceeded(req, 'two'), true);
          res.end('ok');
        }, first ? 60 : 0);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.write('POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nPOST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
      await until(() => got.events.length === 2, 'two events');
      assert.deepEqual(order, ['start /first', 'start /second', 'mark /second', 'mark /first'], 'the second request was marked while the first was still going');
      assert.deepEqual(got.events.map((e) => [e.path, e.login, e.loginUser]).sort(), [['/first', 'failed', 'one'], ['/second', 'succeeded', 'two']]);
    } finally {
      socket.destroy();
      server.closeAllConnections();
      server.close();
      await tracker.close();
    }
  });

  test('a login that ipwatch refused itself (blocked) is not a login attempt: the app never saw it', async () => {
    const blockMirror = await loadedMirror(['198.51.100.0/24']);
    const t = await trackerServer({ blockMirror, login: { paths: ['/login'] } });
    try {
      const e = await t.send('/login', { 'x-status': '200' });
      assert.deepEqual([e.status, e.blocked, e.login, e.loginUser], [403, true, 'none', null]);
    } finally {
      await t.close();
      await blockMirror.close();
    }
  });
});

/** Reads the requests topic of an in-process log. */
async function reader(log: ReturnType<typeof createMemoryEventLog>) {
  const messages: LogMessage[] = [];
  const consumer = await log.consume({ groupId: 'read', topics: [TOPICS.requests], handle: async (b) => void messages.push(...b.messages) });
  return { consumer, events: () => messages.map((m) => codecs.RequestEvent.decode(m.value!)) };
}

describe('login reporting in the adapters', () => {
  test("Express: the login option reads the username from the parsed body by default; {} takes the rate limiter's rule; tracker.loginFailed(req) from a handler", async () => {
    const log = createMemoryEventLog();
    const rateLimiter = createRateLimiter({ rules: { anonymous: false, authenticated: false, login: { rate: '100/m', paths: ['/signin'] } } });
    const tracker = ipwatch({ log, trustedProxies: ['127.0.0.1'], bufferOptions: { flushIntervalMs: 5 }, rateLimiter, rateLimitAt: 'mounted', login: {} });
    const app = express();
    app.use(tracker);
    app.use(express.urlencoded({ extended: false }));
    app.use(tracker.limit());
    app.post('/signin', (req, res) => void res.status(req.body.password === 'right' ? 303 : 401).end());
    app.post('/magic-link', (req, res) => {
      tracker.loginFailed(req, 'someone@example.com');
      res.status(200).send('If that address exists, a link is on its way');
    });
    app.post('/totp', (req, res) => {
      tracker.loginSucceeded(req); // username from the body, read when the response is done
      res.redirect('/');
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { consumer, events } = await reader(log);
    const post = async (path: string, body: string) => void (await (await fetch(base + path, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.8' }, body })).text());
    try {
      await post('/signin', 'username=alice&password=wrong');
      await post('/signin', 'email=alice%40example.com&password=right');
      await post('/magic-link', 'email=x');
      await post('/totp', 'username=bob&code=123456');
      await post('/signin', 'username=a&username=b&password=wrong');
      await until(() => events().length === 5, 'five events');
      assert.deepEqual(events().map((e) => [e.path, e.status, e.login, e.loginUser]), [
        ['/signin', 401, 'failed', 'alice'],
        ['/signin', 303, 'succeeded', 'alice@example.com'],
        ['/magic-link', 200, 'failed', 'someone@example.com'],
        ['/totp', 302, 'succeeded', 'bob'],
        ['/signin', 401, 'failed', null], // a repeated field is a list, not a username
      ]);
    } finally {
      server.closeAllConnections();
      server.close();
      await tracker.close();
      await consumer.stop();
      await rateLimiter.close();
      await log.close();
    }
  });

  test('node:http: handler.loginFailed(req, username) from the listener; the login option by path', async () => {
    const log = createMemoryEventLog();
    const handler = withIpwatch(
      (req, res) => {
        if (req.url === '/rpc') handler.loginFailed(req, 'mallory');
        res.statusCode = req.url === '/login' ? 422 : 200;
        res.end();
      },
      { log, login: { paths: ['/login'], username: () => 'from-hook' }, bufferOptions: { flushIntervalMs: 5 } },
    );
    const server = createServer(handler).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { consumer, events } = await reader(log);
    try {
      for (const path of ['/rpc', '/login']) await (await fetch(base + path, { method: 'POST' })).text();
      await until(() => events().length === 2, 'two events');
      assert.deepEqual(events().map((e) => [e.path, e.login, e.loginUser]), [['/rpc', 'failed', 'mallory'], ['/login', 'failed', 'from-hook']]);
    } finally {
      server.close();
      await handler.close();
      await consumer.stop();
      await log.close();
    }
  });

  test("Fastify: fastify.ipwatch.loginFailed(request) from a route; the login option reads request.body's username", async () => {
    const log = createMemoryEventLog();
    const app = Fastify();
    await app.register(ipwatchFastify, { log, bufferOptions: { flushIntervalMs: 5 }, login: { paths: ['/login'] } });
    const ipwatchOf = () => (app as unknown as { ipwatch: IpwatchFastifyDecoration }).ipwatch;
    app.post('/login', async (_request, reply) => reply.code(401).send({ ok: false }));
    app.post('/graphql', async (request) => {
      ipwatchOf().loginFailed(request, 'trent');
      return { errors: [{ message: 'bad credentials' }] };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { consumer, events } = await reader(log);
    try {
      for (const path of ['/login', '/graphql']) {
        await (await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'peggy' }) })).text();
      }
      await until(() => events().length === 2, 'two events');
      assert.deepEqual(events().map((e) => [e.path, e.status, e.login, e.loginUser]), [['/login', 401, 'failed', 'peggy'], ['/graphql', 200, 'failed', 'trent']]);
    } finally {
      await app.close();
      await consumer.stop();
      await log.close();
    }
  });
});
