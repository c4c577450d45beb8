import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import { connect, Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { codecs, type RequestEvent } from '@ipwatch/core/schemas';
import { createRequestRecorder, type RequestRecorderOptions } from './requestEvent.ts';
import { normaliseMethod, sanitizeHeaderValue, sanitizePath } from './sanitize.ts';
import type { EventBuffer } from './eventBuffer.ts';
import { EmitterOptionError } from './errors.ts';
import { until } from './adapterExpectations.test-support.ts';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A deterministic PRNG, so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function randomString(rand: () => number, maxLen: number): string {
  const pools = [
    () => String.fromCharCode(Math.floor(rand() * 0x80)),
    () => String.fromCharCode(Math.floor(rand() * 0x100)),
    () => String.fromCharCode(Math.floor(rand() * 0x10000)), // includes lone surrogates
    () => '%' + Math.floor(rand() * 256).toString(16).toUpperCase().padStart(2, '0'),
    () => ['%', '%2', '%25', '%C3%A9', '%E0%A4', '%F0%9F%98%80', '\ud83d\ude00', '\r\n', '\u0000', '/'][Math.floor(rand() * 10)]!,
  ];
  let s = '';
  const len = Math.floor(rand() * maxLen);
  while (s.length < len) s += pools[Math.floor(rand() * pools.length)]!();
  return s;
}

describe('sanitizers', () => {
  test('sanitizePath: plain paths untouched, UTF-8 escapes decoded, reserved and %25 kept', () => {
    assert.equal(sanitizePath('/a/b?c=d&e=f', 2048), '/a/b?c=d&e=f');
    assert.equal(sanitizePath('/caf%C3%A9?q=a%26b', 2048), '/café?q=a%26b');
    assert.equal(sanitizePath('/a%2Fb%3Fc%23d', 2048), '/a%2Fb%3Fc%23d');
    assert.equal(sanitizePath('/100%25%41', 2048), '/100%25A');
    assert.equal(sanitizePath('/a%20b', 2048), '/a b');
    assert.equal(sanitizePath('', 2048), '');
    assert.equal(sanitizePath(undefined, 2048), '');
    assert.equal(sanitizePath(42, 2048), '');
  });

  test('sanitizePath: invalid percent-encoding and non-UTF-8 escapes keep the raw text, no throw', () => {
    assert.equal(sanitizePath('/bad%E0%A4%A', 2048), '/bad%E0%A4%A');
    assert.equal(sanitizePath('/%ZZ', 2048), '/%ZZ');
    assert.equal(sanitizePath('/%FF%FE', 2048), '/%FF%FE');
    assert.equal(sanitizePath('/%', 2048), '/%');
  });

  test('sanitizePath: raw bytes arriving as latin1 are read as UTF-8 when they are, else kept as latin1 text', () => {
    assert.equal(sanitizePath(Buffer.from('/café', 'utf8').toString('latin1'), 2048), '/café');
    assert.equal(sanitizePath('/\xff\xfe', 2048), '/\xff\xfe');
    assert.equal(sanitizePath('/\ud800x', 2048), '/\ufffdx');
  });

  test('sanitizePath: control characters, raw or decoded, end up percent-escaped', () => {
    assert.equal(sanitizePath('/a%0Ab%00c', 2048), '/a%0Ab%00c');
    assert.equal(sanitizePath('/a\nb\u0000c\u007f', 2048), '/a%0Ab%00c%7F');
    assert.equal(sanitizePath('/a%C2%85', 2048), '/a%C2%85');
  });

  test('sanitizePath: cut on a code-point boundary and never inside an escape', () => {
    assert.equal(sanitizePath('/' + 'a'.repeat(5000), 2048).length, 2048);
    const emoji = '/' + '😀'.repeat(100);
    const cutPath = sanitizePath(emoji, 20);
    assert.ok(cutPath.length <= 20 && !LONE_SURROGATE.test(cutPath), cutPath);
    assert.equal(sanitizePath('/abcdefghijklmn%2F', 17), '/abcdefghijklmn');
    assert.equal(sanitizePath('/' + '%2F'.repeat(50_000), 100).length <= 100, true);
  });

  test('sanitizeHeaderValue: arrays, non-strings, control characters, latin1/UTF-8, bounds', () => {
    assert.equal(sanitizeHeaderValue('curl/8.5.0', 1024), 'curl/8.5.0');
    assert.equal(sanitizeHeaderValue(['first', 'second'], 1024), 'first');
    assert.equal(sanitizeHeaderValue([], 1024), '');
    assert.equal(sanitizeHeaderValue(undefined, 1024), '');
    assert.equal(sanitizeHeaderValue({ toString: () => 'x' }, 1024), '');
    assert.equal(sanitizeHeaderValue('evil\r\nX: 1\u0000', 1024), 'evil\ufffd\ufffdX: 1\ufffd');
    assert.equal(sanitizeHeaderValue(Buffer.from('Mozilla ünïcode', 'utf8').toString('latin1'), 1024), 'Mozilla ünïcode');
    assert.equal(sanitizeHeaderValue('caf\xe9', 1024), 'caf\xe9');
    assert.equal(sanitizeHeaderValue('x'.repeat(100_000), 1024).length, 1024);
    // cut inside a UTF-8 sequence that arrived as latin1: the partial character is dropped, the rest decoded
    const longUtf8 = Buffer.from('é'.repeat(3000), 'utf8').toString('latin1');
    assert.equal(sanitizeHeaderValue(longUtf8, 1024), 'é'.repeat(1024));
  });

  test('normaliseMethod', () => {
    assert.equal(normaliseMethod('GET'), 'GET');
    assert.equal(normaliseMethod('PROPFIND'), 'PROPFIND');
    assert.equal(normaliseMethod('brew'), 'BREW');
    assert.equal(normaliseMethod('G E T'), 'OTHER');
    assert.equal(normaliseMethod('GET\r\n'), 'OTHER');
    assert.equal(normaliseMethod('X'.repeat(33)), 'OTHER');
    assert.equal(normaliseMethod(''), 'OTHER');
    assert.equal(normaliseMethod(undefined), 'OTHER');
  });

  test('fuzz: every output is bounded, well-formed, control-free and encodes in a RequestEvent', () => {
    const rand = prng(20240601);
    for (let i = 0; i < 3000; i++) {
      const input = randomString(rand, 300);
      const max = 16 + Math.floor(rand() * 200);
      const path = sanitizePath(input, max);
      const header = sanitizeHeaderValue(input, max);
      const method = normaliseMethod(input);
      for (const [name, out] of [['path', path], ['header', header], ['method', method]] as const) {
        assert.ok(out.length <= max || name === 'method', `${name} too long for ${JSON.stringify(input)}`);
        assert.ok(!LONE_SURROGATE.test(out), `${name} has a lone surrogate for ${JSON.stringify(input)}`);
        assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(out), `${name} has a control character for ${JSON.stringify(input)}`);
      }
      assert.ok(method.length <= 32);
      const event = sampleEvent({ path, userAgent: header, method });
      assert.deepEqual({ ...codecs.RequestEvent.decode(codecs.RequestEvent.encode(event)) }, event);
    }
  });
});

function sampleEvent(over: Partial<RequestEvent>): RequestEvent {
  return {
    id: '00000000-0000-4000-8000-000000000000', ts: 1, ip: '203.0.113.7', ipAnonymisation: 'off', app: 'a', instance: 'i',
    method: 'GET', host: 'h', path: '/', status: 200, latencyMs: 1.5, bytes: 0, userAgent: '', referer: '', userId: null,
    authenticated: false, blocked: false, rateLimited: false, login: 'none', loginUser: null, network: null, ...over,
  };
}

/** Collects what the recorder pushes, decoded. */
function capture(): { buffer: EventBuffer; events: RequestEvent[]; keys: Array<string | null>; headers: Array<Record<string, string> | undefined> } {
  const events: RequestEvent[] = [];
  const keys: Array<string | null> = [];
  const headers: Array<Record<string, string> | undefined> = [];
  const buffer = {
    push(key: string | null, value: Buffer, h?: Record<string, string>) {
      keys.push(key);
      headers.push(h);
      events.push(codecs.RequestEvent.decode(value));
      return true;
    },
    flush: async () => true,
    close: async () => {},
    stats: () => ({ buffered: 0, sent: 0, dropped: 0, droppedByReason: { buffer_full: 0, closed: 0, close_timeout: 0 }, failures: 0, consecutiveFailures: 0, lastError: null, inFlightMs: null }),
  } satisfies EventBuffer;
  return { buffer, events, keys, headers };
}

async function withServer(
  options: Omit<RequestRecorderOptions, 'buffer'>,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  run: (port: number, got: ReturnType<typeof capture>, stats: () => unknown) => Promise<void>,
  serverOptions: ServerOptions = {},
): Promise<void> {
  const got = capture();
  const recorder = createRequestRecorder({ ...options, buffer: got.buffer });
  const server = createServer(serverOptions, (req, res) => {
    recorder.observe(req, res);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await run((server.address() as AddressInfo).port, got, recorder.stats);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** Sends raw bytes (what fetch would refuse to send) and returns the raw response. */
async function rawRequest(port: number, bytes: Buffer | string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(bytes);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

describe('createRequestRecorder on node:http', () => {
  test('one event per request, with everything read from the request', async () => {
    await withServer({ app: 'shop', instance: 'test:1' }, (req, res) => { res.statusCode = 201; res.end('hello'); }, async (port, got) => {
      const res = await fetch(`http://127.0.0.1:${port}/caf%C3%A9?x=1`, { method: 'POST', headers: { 'user-agent': 'UA/1', referer: 'https://ref.example/' } });
      assert.equal(await res.text(), 'hello');
      await until(() => got.events.length === 1);
      const e = got.events[0]!;
      assert.match(e.id, /^[0-9a-f-]{36}$/);
      assert.ok(Math.abs(e.ts - Date.now()) < 5000);
      assert.equal(e.ip, '127.0.0.1');
      assert.deepEqual(
        { ...e, id: '', ts: 0, latencyMs: 0 },
        { id: '', ts: 0, ip: '127.0.0.1', ipAnonymisation: 'off', app: 'shop', instance: 'test:1', method: 'POST', host: `127.0.0.1:${port}`, path: '/café?x=1', status: 201, latencyMs: 0, bytes: 5, userAgent: 'UA/1', referer: 'https://ref.example/', userId: null, authenticated: false, blocked: false, rateLimited: false, login: 'none', loginUser: null, network: null },
      );
      assert.ok(e.latencyMs >= 0 && e.latencyMs < 5000);
      assert.deepEqual(got.keys, ['127.0.0.1']);
      assert.deepEqual(got.headers, [{ 'ipwatch-schema': 'RequestEvent' }]);
    });
  });

  test("bytes by default: the declared length, node's own for end(data), 0 when streamed; 0 for HEAD", async () => {
    await withServer({}, (req, res) => {
      if (req.url === '/declared') { res.setHeader('content-length', '3'); res.end('abc'); return; }
      if (req.url === '/end') { res.end('héllo'); return; }
      res.write('abc');
      res.end('de');
    }, async (port, got) => {
      for (const p of ['/declared', '/end', '/stream']) await (await fetch(`http://127.0.0.1:${port}${p}`)).text();
      await fetch(`http://127.0.0.1:${port}/declared`, { method: 'HEAD' });
      await until(() => got.events.length === 4);
      const bytes = Object.fromEntries(got.events.map((e) => [`${e.method} ${e.path}`, e.bytes]));
      assert.deepEqual(bytes, { 'GET /declared': 3, 'GET /end': 6, 'GET /stream': 0, 'HEAD /declared': 0 });
    });
  });

  test('countStreamedBytes: bytes counted from writes when there is no Content-Length; 0 for HEAD', async () => {
    await withServer({ countStreamedBytes: true }, (req, res) => { res.write('abc'); res.write(Buffer.from('de')); res.end('fé', 'utf8'); }, async (port, got) => {
      await (await fetch(`http://127.0.0.1:${port}/stream`)).text();
      await fetch(`http://127.0.0.1:${port}/head`, { method: 'HEAD' });
      await until(() => got.events.length === 2);
      assert.equal(got.events.find((e) => e.path === '/stream')!.bytes, 8);
      assert.equal(got.events.find((e) => e.path === '/head')!.bytes, 0);
    });
  });

  test('hostile raw requests (lenient parser): control characters, odd escapes, duplicate headers, UTF-8 as latin1', async () => {
    // node's strict parser refuses raw high bytes and control characters; the lenient one lets some through, so test with it
    await withServer({ maxHeaderLength: 64, maxPathLength: 64 }, (req, res) => res.end('ok'), async (port, got) => {
      const req = Buffer.concat([
        Buffer.from('GET /caf%C3%A9/%0A%E0%A4?q=%%%25 HTTP/1.1\r\nHost: EVIL.example\r\nHost: second.example\r\nUser-Agent: '),
        Buffer.from('ü'.repeat(100), 'utf8'),
        Buffer.from('\r\nReferer: \x01\x02\tref\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n', 'latin1'),
      ]);
      const answer = await rawRequest(port, req);
      assert.match(answer, /^HTTP\/1.1 200/);
      await until(() => got.events.length === 1);
      const e = got.events[0]!;
      assert.equal(e.path, '/caf%C3%A9/%0A%E0%A4?q=%%%25', 'invalid escapes: the raw text is kept');
      assert.equal(e.userAgent, 'ü'.repeat(64));
      assert.equal(e.referer, '\ufffd\ufffd\ufffdref');
      assert.equal(e.host, 'evil.example');
      assert.equal(e.ip, '127.0.0.1', 'nobody trusted: forwarding headers ignored');
    }, { insecureHTTPParser: true });
  });

  test('a huge URL (near node\'s header limit) is bounded', async () => {
    await withServer({}, (req, res) => res.end('ok'), async (port, got) => {
      const res = await fetch(`http://127.0.0.1:${port}/${'%F0%9F%98%80'.repeat(1200)}`);
      assert.equal(res.status, 200);
      await until(() => got.events.length === 1);
      assert.ok(got.events[0]!.path.length <= 2048);
      assert.ok(!LONE_SURROGATE.test(got.events[0]!.path));
    });
  });

  test('user hook: read at the end, errors caught and counted, bad values ignored', async () => {
    let n = 0;
    const user = (req: IncomingMessage) => {
      n++;
      if (req.url === '/throw') throw new Error('hook bug');
      if (req.url === '/bad') return { id: 42, authenticated: true } as never;
      if (req.url === '/anon') return undefined;
      return { id: 'u-1\r\n', authenticated: true };
    };
    await withServer({ user }, (req, res) => res.end('ok'), async (port, got, stats) => {
      for (const p of ['/ok', '/throw', '/bad', '/anon']) assert.equal((await fetch(`http://127.0.0.1:${port}${p}`)).status, 200);
      await until(() => got.events.length === 4);
      const by = (p: string) => got.events.find((e) => e.path === p)!;
      assert.deepEqual([by('/ok').userId, by('/ok').authenticated], ['u-1\ufffd\ufffd', true]);
      assert.deepEqual([by('/throw').userId, by('/throw').authenticated], [null, false]);
      assert.deepEqual([by('/bad').userId, by('/bad').authenticated], [null, false]);
      assert.deepEqual([by('/anon').userId, by('/anon').authenticated], [null, false]);
      assert.equal(n, 4);
      assert.deepEqual(stats(), { recorded: 4, userHookErrors: 2, emitErrors: 0, loginHookErrors: 0, withheld: 0, optOutHookErrors: 0 });
    });
  });

  test('a client that goes away before the response: one event, status 499', async () => {
    await withServer({}, () => { /* never answers */ }, async (port, got) => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      await sleep(50);
      socket.destroy();
      await until(() => got.events.length === 1);
      await sleep(50);
      assert.equal(got.events.length, 1);
      assert.equal(got.events[0]!.status, 499);
      assert.equal(got.events[0]!.path, '/slow');
    });
  });

  test('trusted proxies and anonymisation apply; the key is the anonymised IP', async () => {
    await withServer({ trustedProxies: ['127.0.0.1'], anonymise: { mode: 'truncate' } }, (req, res) => res.end(), async (port, got) => {
      await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.77' } });
      await until(() => got.events.length === 1);
      assert.equal(got.events[0]!.ip, '203.0.113.0');
      assert.equal(got.events[0]!.ipAnonymisation, 'truncate');
      assert.deepEqual(got.keys, ['203.0.113.0']);
    });
  });

  test('events larger than the encoder scratch buffer encode and decode exactly', () => {
    const got = capture();
    const recorder = createRequestRecorder({ buffer: got.buffer, maxHeaderLength: 65_536, maxPathLength: 65_536 });
    for (const size of [10, 20_000, 60_000, 10]) {
      const req = new IncomingMessage(new Socket());
      req.method = 'GET';
      req.url = '/' + 'p'.repeat(size);
      req.headers = { 'user-agent': 'ü'.repeat(size) };
      const res = new ServerResponse(req);
      recorder.observe(req, res);
      res.emit('finish');
    }
    assert.deepEqual(got.events.map((e) => [e.path.length, e.userAgent.length]), [[11, 10], [20_001, 20_000], [60_001, 60_000], [11, 10]]);
  });

  test('bad options throw at construction', () => {
    const { buffer } = capture();
    assert.throws(() => createRequestRecorder({} as never), EmitterOptionError);
    assert.throws(() => createRequestRecorder({ buffer, maxPathLength: 0 }), /maxPathLength/);
    assert.throws(() => createRequestRecorder({ buffer, maxHeaderLength: 1e9 }), /maxHeaderLength/);
    assert.throws(() => createRequestRecorder({ buffer, user: 'me' as never }), /user must be a function/);
    assert.throws(() => createRequestRecorder({ buffer, countStreamedBytes: 'yes' as never }), /countStreamedBytes/);
    assert.throws(() => createRequestRecorder({ buffer, trustedProxies: ['nope'] }), /invalid entry "nope"/);
    assert.throws(() => createRequestRecorder({ buffer, anonymise: { mode: 'hash' } }), /16 bytes/);
    assert.throws(() => createRequestRecorder({ buffer, clientIp: () => ({ ip: '1.1.1.1', source: 'socket' }), trustedHops: 1 }), /one or the other/);
    // each message names the option, what it takes, and what was given
    assert.throws(() => createRequestRecorder({} as never), /^EmitterOptionError: buffer must be an EventBuffer \(see createEventBuffer\), not undefined$/);
    assert.throws(() => createRequestRecorder({ buffer: {} as never }), /buffer must be an EventBuffer .*, not an object without push\(\)$/);
    assert.throws(() => createRequestRecorder({ buffer, maxPathLength: 0 }), /^EmitterOptionError: maxPathLength must be a whole number from 16 to 65536, not 0$/);
    assert.throws(() => createRequestRecorder({ buffer, clientIp: 'me' as never }), /^EmitterOptionError: clientIp must be a function \(remoteAddress, headers\) => \(\{ ip, source \}\)$/);
    assert.throws(() => createRequestRecorder({ buffer, anonymise: { mode: 'off', cacheSize: -1 } }), /^EmitterOptionError: cacheSize must be a whole number >= 0, not -1$/);
    assert.throws(() => createRequestRecorder({ buffer, forwardedHeader: 'x-real-ip' as never }), /^EmitterOptionError: header must be 'x-forwarded-for' \(the default\), 'forwarded' \(RFC 7239\) or 'both', not "x-real-ip"$/);
  });
});
