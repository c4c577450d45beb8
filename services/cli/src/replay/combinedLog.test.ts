import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { hasRefererAndAgent, parseCombinedLine, parseCommonLine, parseTimeLocal } from './combinedLog.ts';

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

/** A line as the replay reader hands it over: the file's bytes decoded as UTF-8, invalid bytes as U+FFFD. */
const fromBytes = (...parts: Array<string | number[]>): string => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))).toString('utf8');

test('--format common: a common line reads, a combined one is refused as such rather than cut', () => {
  const r = parseCommonLine('10.0.0.1 - bob [17/May/2015:10:05:03 +0000] "GET /a?b=c HTTP/1.0" 404 17  ', opts);
  assert.ok(r.ok);
  assert.equal(r.event.path, '/a?b=c');
  assert.equal(r.event.status, 404);
  assert.equal(r.event.bytes, 17);
  assert.equal(r.event.userId, 'bob');
  assert.equal(r.event.userAgent, '');
  assert.deepEqual(parseCommonLine('10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.0" 200 1 "-" "curl"', opts), {
    ok: false,
    reason: 'text after the byte count: this looks like the combined format (--format combined)',
  });
  assert.deepEqual(parseCommonLine('nope', opts), { ok: false, reason: 'not in the common log format' });
  assert.equal(hasRefererAndAgent('10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.0" 200 1 "-" "curl"'), true);
  assert.equal(hasRefererAndAgent('10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.0" 200 1'), false);
});

test('a hostile line as read from the file: invalid UTF-8 and control characters in path, user, agent and referer made valid, printable text', () => {
  const line = fromBytes('1.2.3.4 - ', [0xff, 0x1b], ' [17/May/2015:10:05:03 +0000] "GET /caf\u00e9/', [0xc3, 0x28, 0x01, 0x7f], '/x HTTP/1.1" 200 1 "http://r/', [0x9b], '" "Bot \u00fc ', [0xe2, 0x82], '"');
  const r = parseCombinedLine(line, opts);
  assert.ok(r.ok);
  assert.equal(r.event.path, '/café/\ufffd(%01%7F/x');
  assert.equal(r.event.userAgent, 'Bot ü \ufffd');
  assert.equal(r.event.userId, '\ufffd\ufffd');
  assert.equal(r.event.referer, 'http://r/\ufffd');
  for (const text of [r.event.path, r.event.userAgent, r.event.referer, r.event.userId!]) {
    assert.equal(Buffer.from(text, 'utf8').toString('utf8'), text, 'valid UTF-8 (no lone surrogates)');
    assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f]/);
  }
});

test('over-long fields are bounded: user agent, referer, path, user', () => {
  const ua = 'A'.repeat(100_000);
  const r = parseCombinedLine(`1.2.3.4 - ${'u'.repeat(5000)} [17/May/2015:10:05:03 +0000] "GET /${'p'.repeat(50_000)} HTTP/1.1" 200 1 "${'r'.repeat(5000)}" "${ua}"`, opts);
  assert.ok(r.ok);
  assert.equal(r.event.userAgent.length, 1024);
  assert.equal(r.event.referer.length, 1024);
  assert.equal(r.event.path.length, 2048);
  assert.equal(r.event.userId!.length, 256);
  const small = parseCombinedLine(`1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "${ua}"`, { ...opts, maxHeaderLength: 10 });
  assert.ok(small.ok);
  assert.equal(small.event.userAgent, 'A'.repeat(10));
});

test('time_local on its own (nginx-json reads it too)', () => {
  assert.equal(parseTimeLocal('17/May/2015:10:05:03 +0230'), Date.UTC(2015, 4, 17, 7, 35, 3));
  assert.match(String(parseTimeLocal('17/Foo/2015:10:05:03 +0000')), /unknown month "Foo"/);
  assert.match(String(parseTimeLocal('2015-05-17 10:05:03')), /not like 10\/Oct\/2000:13:55:36 -0700/);
});
