import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseNginxJsonLine } from './nginxJson.ts';

const opts = { app: 'replay-test', host: 'default.example' };
const line = (fields: Record<string, unknown>): string => JSON.stringify(fields);
const base = { remote_addr: '203.0.113.9', time_iso8601: '2026-03-01T12:00:00+01:00', request: 'GET /shop?q=1 HTTP/2.0', status: '200' };

test('an nginx escape=json line: every key read, strings as nginx writes them', () => {
  const r = parseNginxJsonLine(
    line({ ...base, body_bytes_sent: '5120', bytes_sent: '9999', request_time: '0.125', http_user_agent: 'Mozilla/5.0', http_referer: 'https://r.example/', remote_user: 'alice', http_host: 'Shop.Example' }),
    opts,
  );
  assert.ok(r.ok);
  assert.equal(r.event.ip, '203.0.113.9');
  assert.equal(new Date(r.event.ts).toISOString(), '2026-03-01T11:00:00.000Z');
  assert.equal(r.event.method, 'GET');
  assert.equal(r.event.path, '/shop?q=1');
  assert.equal(r.event.status, 200);
  assert.equal(r.event.bytes, 5120, 'body_bytes_sent before bytes_sent');
  assert.equal(r.event.latencyMs, 125);
  assert.equal(r.event.userAgent, 'Mozilla/5.0');
  assert.equal(r.event.referer, 'https://r.example/');
  assert.equal(r.event.userId, 'alice');
  assert.equal(r.event.authenticated, true);
  assert.equal(r.event.host, 'shop.example');
  assert.equal(r.event.app, 'replay-test');
});

test('numbers as JSON numbers, msec, request_method + request_uri, empty markers, the --host default', () => {
  const r = parseNginxJsonLine(
    line({ remote_addr: '2001:DB8::7', msec: 1767225600.25, time_local: '01/Jan/2000:00:00:00 +0000', request_method: 'POST', request_uri: '/login', request: 'GET /ignored HTTP/1.1', status: 401, bytes_sent: 33, request_time: 0.0015, remote_user: '-', http_user_agent: '', http_referer: '-', host: '' }),
    opts,
  );
  assert.ok(r.ok);
  assert.equal(r.event.ip, '2001:db8::7');
  assert.equal(r.event.ts, 1767225600250, 'msec wins over the other times');
  assert.equal(r.event.method, 'POST');
  assert.equal(r.event.path, '/login');
  assert.equal(r.event.status, 401);
  assert.equal(r.event.bytes, 33);
  assert.equal(r.event.latencyMs, 1.5);
  assert.equal(r.event.userId, null);
  assert.equal(r.event.authenticated, false);
  assert.equal(r.event.userAgent, '');
  assert.equal(r.event.referer, '');
  assert.equal(r.event.host, 'default.example');
  const local = parseNginxJsonLine(line({ ...base, time_iso8601: undefined, time_local: '17/May/2015:10:05:03 -0100' }), opts);
  assert.ok(local.ok);
  assert.equal(new Date(local.event.ts).toISOString(), '2015-05-17T11:05:03.000Z');
  const minimal = parseNginxJsonLine(line(base), opts);
  assert.ok(minimal.ok);
  assert.equal(minimal.event.bytes, 0);
  assert.equal(minimal.event.latencyMs, 0);
});

test('wrong types and missing keys: the line is refused, the reason names the key', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, status: true }, /^status is a boolean, not a number$/],
    [{ ...base, status: '2OO' }, /^status "2OO" is not a number$/],
    [{ ...base, status: 42 }, /^status 42 is not an HTTP status$/],
    [{ ...base, status: 200.5 }, /^status 200.5 is not an HTTP status$/],
    [{ ...base, status: undefined }, /^status is missing$/],
    [{ ...base, body_bytes_sent: -1 }, /^body_bytes_sent -1 is not a non-negative number$/],
    [{ ...base, body_bytes_sent: '1e400' }, /^body_bytes_sent "1e400" is not a number$/],
    [{ ...base, request_time: [1] }, /^request_time is an array, not a number$/],
    [{ ...base, http_user_agent: { a: 1 } }, /^http_user_agent is an object, not a string$/],
    [{ ...base, remote_user: 7 }, /^remote_user is a number, not a string$/],
    [{ ...base, remote_addr: 5 }, /^remote_addr is a number, not a string$/],
    [{ ...base, remote_addr: 'evil.example' }, /^remote_addr "evil.example" is not an IP address$/],
    [{ ...base, remote_addr: undefined }, /^remote_addr is missing$/],
    [{ ...base, time_iso8601: 'yesterday' }, /^time_iso8601 "yesterday" is not like/],
    [{ ...base, time_iso8601: undefined }, /^no time: one of msec, time_iso8601, time_local/],
    [{ ...base, msec: 1e20 }, /^msec is not a time between 1970 and 9999$/],
    [{ ...base, time_iso8601: undefined, time_local: '1/1/2020' }, /^time_local: time "1\/1\/2020" is not like/],
    [{ ...base, request: '\u0016\u0003\u0001' }, /^request "\\u0016\\u0003\\u0001" is not "METHOD URI PROTOCOL"$/],
    [{ ...base, request: undefined }, /^no request/],
    [[base], /^not a JSON object/],
    [null, /^not a JSON object/],
    ['text', /^not a JSON object/],
  ];
  for (const [doc, reason] of cases) {
    const r = parseNginxJsonLine(JSON.stringify(doc), opts);
    assert.equal(r.ok, false, JSON.stringify(doc));
    if (!r.ok) assert.match(r.reason, reason);
  }
  const broken = parseNginxJsonLine('{"remote_addr": "1.2.3.4", ', opts);
  assert.deepEqual(broken, { ok: false, reason: 'not a JSON object (nginx-json wants one object per line)' });
});

test('a "__proto__" key supplies no fields and changes no prototype', () => {
  const r = parseNginxJsonLine('{"__proto__":{"status":"500"},"remote_addr":"1.2.3.4","msec":"1","request":"GET / HTTP/1.1","status":"204"}', opts);
  assert.ok(r.ok);
  assert.equal(r.event.status, 204);
  assert.equal(({} as Record<string, unknown>).status, undefined, 'nothing leaked into Object.prototype');
  const proto = parseNginxJsonLine('{"__proto__":{"remote_addr":"1.2.3.4"},"msec":"1","request":"GET / HTTP/1.1","status":"204"}', opts);
  assert.deepEqual(proto, { ok: false, reason: 'remote_addr is missing' });
});

test('hostile text: control characters, invalid UTF-8 (as U+FFFD), over-long values are bounded', () => {
  // the agent ends in bytes that are not UTF-8: the reader hands them over as U+FFFD
  const head = line({ ...base, request: undefined, request_method: 'G\u0000T', request_uri: '/a\u001b[31m/\u0085', remote_user: 'u\r\nX' }).slice(0, -1);
  const raw = Buffer.concat([Buffer.from(`${head},"http_user_agent":"x\\u0007`), Buffer.from([0xff, 0xc3]), Buffer.from('"}')]).toString('utf8');
  const r = parseNginxJsonLine(raw, opts);
  assert.ok(r.ok);
  assert.equal(r.event.method, 'OTHER');
  assert.equal(r.event.path, '/a%1B[31m/%C2%85');
  assert.equal(r.event.userAgent, 'x\ufffd\ufffd\ufffd');
  assert.equal(r.event.userId, 'u\ufffd\ufffdX');
  const long = parseNginxJsonLine(line({ ...base, request: `GET /${'p'.repeat(40_000)} HTTP/1.1`, http_user_agent: 'U'.repeat(50_000), http_referer: 'R'.repeat(5000), remote_user: 'n'.repeat(1000), host: 'h'.repeat(3000) }), opts);
  assert.ok(long.ok);
  assert.equal(long.event.path.length, 2048);
  assert.equal(long.event.userAgent.length, 1024);
  assert.equal(long.event.referer.length, 1024);
  assert.equal(long.event.userId!.length, 256);
  assert.equal(long.event.host.length, 1024);
});
