import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseBlockTarget, parseExpiry, formatTimeLeft, cleanText, DecisionInputError, InvalidAddressError } from './blockTarget.ts';

test('targets become one canonical key', () => {
  assert.equal(parseBlockTarget(' 203.0.113.7 '), '203.0.113.7');
  assert.equal(parseBlockTarget('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(parseBlockTarget('2001:DB8:0::1'), '2001:db8::1');
  assert.equal(parseBlockTarget('10.0.0.0/8'), '10.0.0.0/8');
  assert.equal(parseBlockTarget('203.0.113.7/32'), '203.0.113.7');
  assert.equal(parseBlockTarget('2001:db8::1/128'), '2001:db8::1');
  assert.equal(parseBlockTarget('2001:db8:1::/48'), '2001:db8:1::/48');
  assert.equal(parseBlockTarget('::ffff:10.0.0.0/104'), '10.0.0.0/8');
  assert.equal(parseBlockTarget('0.0.0.0/0'), '0.0.0.0/0');
});

test('bad targets are refused saying what is wrong', () => {
  assert.throws(() => parseBlockTarget('10.0.0.5/24'), (e: Error) => e instanceof InvalidAddressError && /did you mean 10\.0\.0\.0\/24/.test(e.message));
  assert.throws(() => parseBlockTarget('10.0.0.0/33'), /prefix length must be a number from 0 to 32/);
  assert.throws(() => parseBlockTarget('999.1.1.1'), /not an IP address or CIDR/);
  assert.throws(() => parseBlockTarget('example.com'), /not an IP address or CIDR/);
  assert.throws(() => parseBlockTarget(''), /not an IP address or CIDR/);
  assert.throws(() => parseBlockTarget('fe80::1%eth0'), /not an IP address or CIDR/);
  assert.throws(() => parseBlockTarget('1.2.3.4'.repeat(20)), /not an IP address or CIDR/);
});

test('expiries: relative, ISO-8601, never; the past and nonsense are refused', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  assert.equal(parseExpiry('+7d', now), now + 7 * 86_400_000);
  assert.equal(parseExpiry('+12h', now), now + 12 * 3_600_000);
  assert.equal(parseExpiry('+90s', now), now + 90_000);
  assert.equal(parseExpiry('2026-12-01T00:00:00Z', now), Date.parse('2026-12-01T00:00:00Z'));
  assert.equal(parseExpiry('2026-12-01T01:00:00+01:00', now), Date.parse('2026-12-01T00:00:00Z'));
  assert.equal(parseExpiry(undefined, now), null);
  assert.equal(parseExpiry('never', now), null);
  assert.throws(() => parseExpiry('2020-01-01T00:00:00Z', now), (e: Error) => e instanceof DecisionInputError && /in the past/.test(e.message));
  assert.throws(() => parseExpiry('+0h', now), /positive duration/);
  assert.throws(() => parseExpiry('7d', now), /not understood: write \+90s/);
  assert.throws(() => parseExpiry('2026-12-01', now), /not understood/);
  assert.throws(() => parseExpiry('2027-02-30T00:00:00Z', now), /not a real date/);
  assert.throws(() => parseExpiry('2027-13-01T00:00:00Z', now), /not a real date/);
  assert.equal(parseExpiry('2028-02-29T00:00:00Z', now), Date.parse('2028-02-29T00:00:00Z'));
  assert.throws(() => parseExpiry('+999w', now), /ten years/);
});

test('time left reads like a person would say it', () => {
  const now = 1_000_000;
  assert.equal(formatTimeLeft(null, now), 'never');
  assert.equal(formatTimeLeft(now - 1, now), 'expired');
  assert.equal(formatTimeLeft(now + 12_000, now), '12s');
  assert.equal(formatTimeLeft(now + 3_599_000, now), '59m 59s');
  assert.equal(formatTimeLeft(now + 7 * 86_400_000, now), '7d 0h');
});

test('free text is bounded and printable', () => {
  assert.equal(cleanText('reason', 'scanner\u001b[31m', 100), 'scanner [31m');
  assert.throws(() => cleanText('reason', 'x'.repeat(101), 100), /longer than 100/);
  assert.throws(() => cleanText('reason', 5, 100), /must be text/);
});
