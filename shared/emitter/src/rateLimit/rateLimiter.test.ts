import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { EmitterOptionError } from '../errors.ts';
import { createRateLimiter, type RateLimitDecision, type RateLimitedEvent, type RateLimiterOptions } from './rateLimiter.ts';
import { createMemoryRateLimitStore } from './store.memory.ts';
import type { RateLimitCheck, RateLimitStore } from './store.ts';
import type { RateLimitEventAggregator, RateLimitRefusal } from './rateLimitEvents.ts';

function req(method: string, url: string, body?: unknown): IncomingMessage {
  return { method, url, headers: {}, ...(body !== undefined && { body }) } as unknown as IncomingMessage;
}
const anon = (ip: string) => ({ ip, userId: null, authenticated: false });
const user = (ip: string, id: string) => ({ ip, userId: id, authenticated: true });

/**
 * The memory store on a test clock, recording every call's keys. Its figures are the bucketed
 * window's (buckets.ts): a count leaves with its whole bucket (a tenth of the window). The
 * clock starts at 1,000,000 ms, 4 s into a 6 s bucket of a 1-minute window (996,000 to
 * 1,002,000), so a count made then leaves at 1,062,000: t=62 where a log said 60. For 5
 * minutes (30 s buckets, 990,000 to 1,020,000): 1,320,000, 320 s.
 */
function setup(options: Omit<RateLimiterOptions, 'store'> = {}) {
  let t = 1_000_000;
  const inner = createMemoryRateLimitStore({ now: () => t });
  const calls: string[][] = [];
  const store: RateLimitStore = {
    kind: 'memory',
    hit: (checks: readonly RateLimitCheck[]) => {
      calls.push(checks.map((c) => c.key));
      return inner.hit(checks);
    },
  };
  const limiter = createRateLimiter({ ...options, store });
  return { limiter, calls, advance: (ms: number) => void (t += ms) };
}

const header = (d: RateLimitDecision, name: string) => d.headers.find(([n]) => n === name)?.[1];

test('defaults: anonymous 5 per minute per IP, one store call with one key', async () => {
  const { limiter, calls, advance } = setup();
  for (let i = 0; i < 5; i++) {
    const d = await limiter.check(req('GET', '/'), anon('203.0.113.7'));
    assert.equal(d.limited, false);
    assert.equal(header(d, 'RateLimit-Policy'), '"anonymous";q=5;w=60');
    assert.equal(header(d, 'RateLimit'), `"anonymous";r=${4 - i};t=${62 - i}`, 't: until the oldest counted request leaves');
    advance(1000);
  }
  const d = await limiter.check(req('GET', '/'), anon('203.0.113.7'));
  assert.ok(d.limited);
  assert.equal(d.rule, 'anonymous');
  assert.equal(d.limitKey, '203.0.113.7');
  assert.equal(d.statusCode, 429);
  // two were counted in the bucket that leaves at 1,062,000, three in the next: one under the limit once it has left
  assert.equal(d.retryAfterS, 57);
  assert.deepEqual(d.headers, [
    ['RateLimit-Policy', '"anonymous";q=5;w=60'],
    ['RateLimit', '"anonymous";r=0;t=57'],
    ['Retry-After', '57'],
  ]);
  assert.equal((await limiter.check(req('GET', '/'), anon('203.0.113.8'))).limited, false, 'another IP has its own limit');
  assert.deepEqual(calls[0], ['ipwatch:rl:anonymous:203.0.113.7']);
  assert.ok(calls.every((c) => c.length === 1));
  assert.deepEqual(limiter.stats().limitedByRule, { anonymous: 1 });
});

test('authenticated: 10 per minute per user id, whatever the IP', async () => {
  const { limiter, calls } = setup();
  for (let i = 0; i < 10; i++) assert.equal((await limiter.check(req('GET', '/'), user(`198.51.100.${i}`, '42'))).limited, false);
  const d = await limiter.check(req('GET', '/'), user('198.51.100.99', '42'));
  assert.ok(d.limited);
  assert.equal(d.rule, 'authenticated');
  assert.equal(d.limitKey, 'user:42');
  assert.deepEqual(calls[0], ['ipwatch:rl:authenticated:user:42']);
});

test('IPv6 clients share a limit per /64 (configurable)', async () => {
  const { limiter } = setup({ rules: { anonymous: '2/m' } });
  assert.equal((await limiter.check(req('GET', '/'), anon('2001:db8:1:2::1'))).limited, false);
  assert.equal((await limiter.check(req('GET', '/'), anon('2001:db8:1:2::ffff'))).limited, false);
  const d = await limiter.check(req('GET', '/'), anon('2001:db8:1:2:aaaa::3'));
  assert.ok(d.limited);
  assert.equal(d.limitKey, '2001:db8:1:2::/64');
  assert.equal((await limiter.check(req('GET', '/'), anon('2001:db8:1:3::1'))).limited, false, 'another /64');

  const wide = setup({ rules: { anonymous: '1/m' }, ipv6Prefix: 48 }).limiter;
  await wide.check(req('GET', '/'), anon('2001:db8:1:2::1'));
  assert.equal((await wide.check(req('GET', '/'), anon('2001:db8:1:3::1'))).limited, true, 'one /48');
});

test('login: 3 per 5 minutes per IP and per username, usernames compared case-insensitively', async () => {
  const { limiter, calls } = setup({ rules: { anonymous: false } });
  for (let i = 0; i < 3; i++) assert.equal((await limiter.check(req('POST', '/login', { username: 'alice' }), anon(`192.0.2.${i}`))).limited, false);
  assert.deepEqual(calls[0], ['ipwatch:rl:login:192.0.2.0', 'ipwatch:rl:login:login-user:alice']);
  const d = await limiter.check(req('POST', '/login', { username: ' Alice ' }), anon('192.0.2.50'));
  assert.ok(d.limited, 'a fourth IP trying the same username is refused');
  assert.equal(d.rule, 'login-user');
  assert.equal(d.limitKey, 'login-user:alice');
  assert.equal(d.retryAfterS, 320);
  assert.equal(header(d, 'RateLimit-Policy'), '"login";q=3;w=300, "login-user";q=3;w=300');
  assert.equal(header(d, 'RateLimit'), '"login";r=3;t=0, "login-user";r=0;t=320');
  // per IP too, across usernames
  for (const name of ['a', 'b', 'c']) await limiter.check(req('POST', '/login', { username: name }), anon('192.0.2.99'));
  const perIp = await limiter.check(req('POST', '/login', { username: 'd' }), anon('192.0.2.99'));
  assert.ok(perIp.limited);
  assert.equal(perIp.rule, 'login');
  assert.equal(perIp.limitKey, '192.0.2.99');
  // the way Express routes it: any case, trailing slash, query
  assert.ok((await limiter.check(req('POST', '/LOGIN/?next=/', { username: 'alice' }), anon('192.0.2.200'))).limited);
  // not a login: other method, other path
  assert.equal((await limiter.check(req('GET', '/login'), anon('192.0.2.99'))).limited, false);
  assert.equal((await limiter.check(req('POST', '/login-help'), anon('192.0.2.99'))).limited, false);
});

test('login without a username counts per IP only; a failing username hook is counted', async () => {
  const { limiter, calls } = setup({
    rules: {
      anonymous: false,
      login: {
        username: (r) => {
          if ((r.url ?? '').includes('boom')) throw new Error('boom');
          return null;
        },
      },
    },
  });
  await limiter.check(req('POST', '/login'), anon('192.0.2.1'));
  await limiter.check(req('POST', '/login?boom'), anon('192.0.2.1'));
  assert.deepEqual(calls, [['ipwatch:rl:login:192.0.2.1'], ['ipwatch:rl:login:192.0.2.1']]);
  assert.equal(limiter.stats().usernameHookErrors, 1);
});

test('route rules: exact and prefix paths, methods, keyed by ip, user or both, on top of the class rule', async () => {
  const { limiter, calls } = setup({
    rules: {
      login: false,
      routes: [
        { name: 'search', path: '/api/search', rate: '2/m', methods: ['GET'] },
        { name: 'api', path: '/api/*', rate: '100/m', by: 'user' },
        { name: 'upload', path: '/upload*', rate: '1/h', by: 'ip+user', methods: ['post'] },
      ],
    },
  });
  await limiter.check(req('GET', '/api/search?q=x'), user('192.0.2.1', 'u1'));
  assert.deepEqual(calls.at(-1), ['ipwatch:rl:authenticated:user:u1', 'ipwatch:rl:search:192.0.2.1', 'ipwatch:rl:api:user:u1']);
  await limiter.check(req('HEAD', '/api/search'), anon('192.0.2.1'));
  assert.deepEqual(calls.at(-1), ['ipwatch:rl:anonymous:192.0.2.1', 'ipwatch:rl:search:192.0.2.1', 'ipwatch:rl:api:192.0.2.1'], "HEAD is GET's; 'user' counts anonymous by IP");
  const d = await limiter.check(req('GET', '/api/search'), user('192.0.2.1', 'u2'));
  assert.ok(d.limited);
  assert.equal(d.rule, 'search');
  await limiter.check(req('GET', '/api'), anon('192.0.2.5'));
  assert.deepEqual(calls.at(-1), ['ipwatch:rl:anonymous:192.0.2.5', 'ipwatch:rl:api:192.0.2.5'], "'/api/*' covers '/api'");
  await limiter.check(req('GET', '/apix'), anon('192.0.2.5'));
  assert.deepEqual(calls.at(-1), ['ipwatch:rl:anonymous:192.0.2.5']);
  await limiter.check(req('POST', '/uploads/1'), user('192.0.2.6', 'u3'));
  assert.deepEqual(calls.at(-1), ['ipwatch:rl:authenticated:user:u3', 'ipwatch:rl:upload:192.0.2.6', 'ipwatch:rl:upload:user:u3']);
  const up = await limiter.check(req('POST', '/upload'), user('192.0.2.7', 'u3'));
  assert.ok(up.limited);
  assert.equal(up.rule, 'upload-user');
  assert.equal(up.limitKey, 'user:u3');
});

test('a refused request is counted under no key', async () => {
  const { limiter } = setup({ rules: { anonymous: '10/m', login: { rate: '1/m' } } });
  await limiter.check(req('POST', '/login', { username: 'x' }), anon('192.0.2.1'));
  for (let i = 0; i < 5; i++) assert.ok((await limiter.check(req('POST', '/login', { username: 'x' }), anon('192.0.2.1'))).limited);
  const d = await limiter.check(req('GET', '/'), anon('192.0.2.1'));
  assert.equal(header(d, 'RateLimit'), '"anonymous";r=8;t=62', 'only the admitted login counted against the class limit');
});

test('nothing to count: no store call', async () => {
  const { limiter, calls } = setup({ rules: { anonymous: false, authenticated: false, login: false } });
  const d = await limiter.check(req('GET', '/'), anon('192.0.2.1'));
  assert.deepEqual(d, { limited: false, headers: [] });
  assert.equal(calls.length, 0);
});

test('403 instead of 429, and no headers on admitted responses when asked', async () => {
  const { limiter } = setup({ rules: { anonymous: '1/m' }, statusCode: 403, headers: false });
  const ok = await limiter.check(req('GET', '/'), anon('192.0.2.1'));
  assert.deepEqual(ok.headers, []);
  const d = await limiter.check(req('GET', '/'), anon('192.0.2.1'));
  assert.ok(d.limited);
  assert.equal(d.statusCode, 403);
  assert.equal(header(d, 'Retry-After'), '62');
});

test('respond() writes the refusal with its headers and a small JSON body; sets headers on admitted ones', async () => {
  const { limiter } = setup({ rules: { anonymous: '1/m' } });
  const server = createServer((rq, rs) => {
    void limiter.check(rq, anon('192.0.2.1')).then((d) => {
      if (limiter.respond(rs, d)) return;
      rs.end('hello');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const ok = await fetch(url);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'hello');
    assert.equal(ok.headers.get('ratelimit'), '"anonymous";r=0;t=62');
    const refused = await fetch(url);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '62');
    assert.equal(refused.headers.get('ratelimit-policy'), '"anonymous";q=1;w=60');
    assert.equal(refused.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await refused.json(), { error: 'rate limited', rule: 'anonymous', retryAfter: 62 });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('refusals go to the events sink and onLimited', async () => {
  const recorded: Array<[RateLimitRefusal, string, string, string | null]> = [];
  const events: RateLimitEventAggregator = {
    record: (r, ip, path, userId) => void recorded.push([r, ip, path, userId]),
    flush: () => 0,
    close: () => {},
    stats: () => ({ recorded: recorded.length, folded: 0, dropped: 0, events: 0, bufferDropped: 0, overflow: 0, pending: 0, encodeErrors: 0 }),
  };
  const seen: RateLimitedEvent[] = [];
  const { limiter } = setup({
    rules: { authenticated: '1/m' },
    events,
    onLimited: (e) => {
      seen.push(e);
      throw new Error('a broken hook');
    },
  });
  await limiter.check(req('GET', '/a?b=c'), user('192.0.2.1', '7'));
  await limiter.check(req('GET', '/a?b=c'), user('192.0.2.1', '7'));
  assert.equal(recorded.length, 1);
  assert.equal(recorded[0]![0].rule, 'authenticated');
  assert.equal(recorded[0]![0].limitKey, 'user:7');
  assert.deepEqual(recorded[0]!.slice(1), ['192.0.2.1', '/a?b=c', '7']);
  assert.deepEqual(seen, [{ rule: 'authenticated', limitKey: 'user:7', limit: 1, windowMs: 60_000, retryAfterS: 62, ip: '192.0.2.1', path: '/a?b=c', userId: '7' }]);
  assert.equal(limiter.stats().onLimitedErrors, 1);
});

test('a store that fails: the check still answers (fallback), health says degraded', async () => {
  const down: RateLimitStore = { kind: 'redis', hit: () => Promise.reject(new Error('Command timed out')) };
  const limiter = createRateLimiter({ store: down, rules: { anonymous: '1/m' } });
  assert.equal((await limiter.check(req('GET', '/'), anon('192.0.2.1'))).limited, false);
  const d = await limiter.check(req('GET', '/'), anon('192.0.2.1'));
  assert.ok(d.limited);
  assert.equal(d.fallback, 'memory');
  const h = limiter.health();
  assert.equal(h.state, 'degraded');
  assert.match(h.detail!, /redis store unreachable since .* \(last error: Command timed out\); limits hold per process/);
  const s = limiter.stats().store;
  assert.equal(s.using, 'fallback');
  assert.equal(s.kind, 'redis');
  assert.equal(s.storeErrors, 1);
  assert.equal(s.fallbackChecks, 2);

  const closed = createRateLimiter({ store: down, fallback: 'deny' });
  const refused = await closed.check(req('GET', '/'), anon('192.0.2.1'));
  assert.ok(refused.limited);
  assert.equal(refused.fallback, 'deny');
  assert.equal(refused.retryAfterS, 1);
  assert.equal(createRateLimiter({ store: down, fallback: 'allow' }).health().state, 'ok', 'nothing failed yet');
});

test('a malformed caller value never throws into the request: admitted and counted', async () => {
  const { limiter } = setup();
  const d = await limiter.check(req('GET', '/'), { ip: undefined as unknown as string, userId: null, authenticated: false });
  assert.equal(d.limited, false);
  assert.equal(limiter.stats().checkErrors, 1);
});

test('bad options fail at construction with what to write instead', () => {
  const bad = (options: RateLimiterOptions, re: RegExp) =>
    assert.throws(() => createRateLimiter(options), (err: unknown) => err instanceof EmitterOptionError && re.test(err.message));
  bad({ rules: { anonymous: '5/minute' } }, /^rules\.anonymous: "5\/minute" is not a rate/);
  bad({ statusCode: 500 as 429 }, /statusCode must be 429/);
  bad({ fallback: 'open' as 'allow' }, /fallback must be 'memory'/);
  bad({ ipv6Prefix: 200 }, /ipv6Prefix/);
  bad({ rules: { routes: [{ name: 'login', path: '/x', rate: '1/m' }] } }, /rule name "login" is taken/);
  bad({ rules: { login: false, routes: [{ name: 'login-user', path: '/x', rate: '1/m' }] } }, /rule name "login-user" is taken/);
  bad({ rules: { routes: [{ name: 'a', path: '/x', rate: '1/m' }, { name: 'a', path: '/y', rate: '1/m' }] } }, /"a" is taken/);
  bad({ rules: { routes: [{ name: 'a b', path: '/x', rate: '1/m' }] } }, /name must be 1 to 63 letters/);
  bad({ rules: { routes: [{ name: 'a', path: 'x', rate: '1/m' }] } }, /is not a path rule/);
  bad({ rules: { routes: [{ name: 'a', path: '/x*/y', rate: '1/m' }] } }, /is not a path rule/);
  bad({ rules: { routes: [{ name: 'a', path: '/x', rate: '1/m', by: 'session' as 'ip' }] } }, /by must be 'ip', 'user' or 'ip\+user'/);
  bad({ rules: { login: { methods: [] } } }, /methods must be a non-empty list/);
  bad({ store: 'localhost:6379' }, /redis must be a URL such as redis:\/\//);
  bad({ keyPrefix: 'has space' }, /keyPrefix/);
});

test('login: an absolute-form URL, case, a trailing slash, invisible characters or full-width letters do not escape the per-username limit', async () => {
  const limiter = createRateLimiter({ rules: { anonymous: false, authenticated: false, login: { rate: '2/m', paths: ['/login'], username: (r) => (r as { body?: { username?: string } }).body?.username } } });
  const tries: Array<[string, string]> = [['/login', 'Alice'], ['http://evil.example/login', 'ALICE'], ['/LOGIN/', 'a\u200blice'], ['/login?x=1', '\uff41\uff4c\uff49\uff43\uff45']];
  const limited: boolean[] = [];
  for (const [i, [url, name]] of tries.entries()) {
    limited.push((await limiter.check(req('POST', url, { username: name }), { ip: `192.0.2.${i + 1}`, userId: null, authenticated: false })).limited);
  }
  assert.deepEqual(limited, [false, false, true, true]);
  await limiter.close();
});

test('a flood of requests from 100,000+ new IPv6 /64s leaves a locked account locked (the default in-process store), and shows in stats and metrics', async () => {
  const { createMetrics } = await import('@ipwatch/core/observability/metrics');
  const { registerEnforcementMetrics } = await import('../enforcementMetrics.ts');
  const limiter = createRateLimiter({ rules: { anonymous: '5/m' } });
  const login = (ip: string) => limiter.check(req('POST', '/login', { username: 'alice' }), anon(ip));
  for (let i = 0; i < 3; i++) assert.equal((await login(`192.0.2.${i}`)).limited, false);
  assert.ok((await login('192.0.2.50')).limited, 'alice is locked');
  for (let i = 0; i < 110_000; i++) await limiter.check(req('GET', '/'), anon(`2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`));
  const d = await login('2001:db8:ffff:ffff::1');
  assert.ok(d.limited, 'alice is still locked: the flood did not evict her count');
  assert.equal(d.rule, 'login-user');
  const m = limiter.stats().memoryStore!;
  assert.ok(m.evictions >= 10_000);
  assert.equal(m.guardedKeys, 1);
  const metrics = createMetrics('shop');
  registerEnforcementMetrics(metrics, { rateLimiter: limiter });
  const text = await metrics.text();
  assert.match(text, /^ipwatch_ratelimit_store_keys\{[^}]*state="guarded"[^}]*\} 1$/m);
  assert.match(text, /^ipwatch_ratelimit_store_full_refusals_total\{[^}]*\} 0$/m);
  assert.match(text, new RegExp(`^ipwatch_ratelimit_store_evictions_total\\{[^}]*\\} ${m.evictions}$`, 'm'));
  await limiter.close();
});

test('where a login counts: stage arrival the per-IP limit, mounted the rest, whole both; an allowlisted client per username only', async () => {
  const { limiter, calls } = setup({ rules: { anonymous: '5/m', login: { username: (r) => (r as { body?: { u?: string[] } }).body?.u } } });
  const login = req('POST', '/login', { u: ['Alice', 'alice', 'bob', 'carol', 'dave'] });
  assert.equal(limiter.countsOnArrival(login), true);
  assert.equal(limiter.countsOnArrival(req('GET', '/login')), false);
  assert.equal(limiter.countsAllowlisted, true);
  await limiter.check(login, anon('192.0.2.1'), 'arrival');
  await limiter.check(login, anon('192.0.2.1'), 'mounted');
  await limiter.check(login, { ...anon('192.0.2.1'), allowlisted: true }, 'mounted');
  await limiter.check(req('GET', '/'), { ...anon('192.0.2.1'), allowlisted: true });
  const users = ['ipwatch:rl:login:login-user:alice', 'ipwatch:rl:login:login-user:bob', 'ipwatch:rl:login:login-user:carol', 'ipwatch:rl:login:login-user:(malformed username)'];
  assert.deepEqual(calls, [['ipwatch:rl:login:192.0.2.1'], ['ipwatch:rl:anonymous:192.0.2.1', ...users], users], 'a list past 4 names also counts as malformed; nothing else for the allowlisted');
  assert.equal(limiter.stats().usernameHookErrors, 0);
  const exempt = createRateLimiter({ rules: { login: { allowlisted: 'exempt' } } });
  assert.equal(exempt.countsAllowlisted, false);
  assert.throws(() => createRateLimiter({ rules: { login: { allowlisted: 'yes' as 'exempt' } } }), /^EmitterOptionError: rules.login.allowlisted must be 'per-username' \(allowlisted clients are counted per username, the default\) or 'exempt' \(allowlisted clients skip the login limit\), not "yes"$/);
});

test('a username hook that returns neither a string nor a list: counted under the malformed key, and as a hook error', async () => {
  const { limiter, calls } = setup({ rules: { anonymous: false, login: { username: () => 42 as unknown as string } } });
  await limiter.check(req('POST', '/login'), anon('192.0.2.1'));
  assert.deepEqual(calls, [['ipwatch:rl:login:192.0.2.1', 'ipwatch:rl:login:login-user:(malformed username)']]);
  assert.equal(limiter.stats().usernameHookErrors, 1);
});
