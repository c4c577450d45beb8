import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseCombinedLine } from './combinedLog.ts';

const opts = { app: 'replay-test' };

test('a combined log line becomes a RequestEvent with its time zone applied', () => {
  const r = parseCombinedLine('83.149.9.216 - - [17/May/2015:10:05:03 +0200] "GET /presentations/x.png HTTP/1.1" 200 203023 "http://semicomplete.com/" "Mozilla/5.0 (Macintosh)"', opts);
  assert.ok(r.ok);
  assert.equal(r.event.ip, '83.149.9.216');
  assert.equal(new Date(r.event.ts).toISOString(), '2015-05-17T08:05:03.000Z');
  assert.equal(r.event.method, 'GET');
  assert.equal(r.event.path, '/presentations/x.png');
  assert.equal(r.event.status, 200);
  assert.equal(r.event.bytes, 203023);
  assert.equal(r.event.referer, 'http://semicomplete.com/');
  assert.equal(r.event.userAgent, 'Mozilla/5.0 (Macintosh)');
  assert.equal(r.event.userId, null);
});

test('common format (no referer, no agent), a user, "-" bytes, IPv6', () => {
  const r = parseCombinedLine('2001:DB8::1 - alice [01/Jan/2026:00:00:00 -0500] "POST /login HTTP/2.0" 302 -', opts);
  assert.ok(r.ok);
  assert.equal(r.event.ip, '2001:db8::1');
  assert.equal(r.event.userId, 'alice');
  assert.equal(r.event.authenticated, true);
  assert.equal(r.event.bytes, 0);
  assert.equal(new Date(r.event.ts).toISOString(), '2026-01-01T05:00:00.000Z');
});

test('hostile and broken lines: refused with a reason, or made safe', () => {
  assert.deepEqual(parseCombinedLine('garbage', opts), { ok: false, reason: 'not in the combined log format' });
  const notIp = parseCombinedLine('evil.example - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1', opts);
  assert.equal(notIp.ok, false);
  const r = parseCombinedLine('1.2.3.4 - - [17/May/2015:10:05:03 +0000] "G\u0007T /\u001b[31mred HTTP/1.1" 200 1 "-" "ua\u001b]0;pwned\u0007"', opts);
  assert.ok(r.ok);
  assert.equal(r.event.method, 'OTHER');
  assert.doesNotMatch(r.event.path + r.event.userAgent, /[\u0000-\u001f]/);
});
