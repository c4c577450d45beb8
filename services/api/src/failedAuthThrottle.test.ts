import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { clientKey, createFailedAuthThrottle } from './failedAuthThrottle.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a client is refused after maxFailures wrong tokens, until its window ends; others are not', () => {
  const c = clock();
  const throttle = createFailedAuthThrottle({ maxFailures: 3, windowMs: 60_000, now: c.now });
  for (let i = 0; i < 2; i++) throttle.failed('198.51.100.7');
  assert.equal(throttle.retryAfterMs('198.51.100.7'), 0, 'two failures: still allowed');
  c.advance(10_000);
  throttle.failed('198.51.100.7');
  assert.equal(throttle.retryAfterMs('198.51.100.7'), 50_000, 'the third: refused until the window that began at the first ends');
  assert.equal(throttle.retryAfterMs('198.51.100.8'), 0);
  c.advance(49_999);
  assert.equal(throttle.retryAfterMs('198.51.100.7'), 1);
  c.advance(1);
  assert.equal(throttle.retryAfterMs('198.51.100.7'), 0, 'a new window');
  throttle.failed('198.51.100.7');
  assert.equal(throttle.retryAfterMs('198.51.100.7'), 0, 'counted afresh');
});

test('memory is bounded: a flood of new clients neither grows the table nor frees a locked-out client', () => {
  const c = clock();
  const throttle = createFailedAuthThrottle({ maxFailures: 3, windowMs: 60_000, maxClients: 100, now: c.now });
  for (let i = 0; i < 3; i++) throttle.failed('203.0.113.66');
  for (let i = 0; i < 100_000; i++) {
    throttle.failed(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
    c.advance(0.1);
  }
  assert.equal(throttle.size(), 100);
  assert.ok(throttle.retryAfterMs('203.0.113.66') > 0, 'the locked-out client is still refused');
  // Beyond the table, newcomers share one overflow entry, which the flood has locked.
  assert.ok(throttle.retryAfterMs('192.0.2.1') > 0, 'a new client is refused while the table is full of failing clients');
  c.advance(60_000);
  assert.equal(throttle.retryAfterMs('192.0.2.1'), 0, 'once the windows end, the table empties');
  throttle.failed('192.0.2.1');
  assert.equal(throttle.size(), 1);
});

test('clients are keyed by IPv4 address and by IPv6 /64, IPv4-mapped IPv6 as IPv4', () => {
  assert.equal(clientKey('198.51.100.7'), '198.51.100.7');
  assert.equal(clientKey('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:bbbb::9'), clientKey('2001:db8:1:2:aaaa::1'));
  assert.equal(clientKey(undefined), 'unknown');
});
