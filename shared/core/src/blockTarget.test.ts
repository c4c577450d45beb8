import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseBlockTarget, parseExpiry, formatTimeLeft, cleanText, DecisionInputError, InvalidAddressError, blockSweep, checkBlockSweep, BlockTooWideError, checkAllowSweep, AllowTooWideError, DEFAULT_BLOCK_SCOPE, isRealDate } from './blockTarget.ts';

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

test('a target with a port is refused, naming the address to write instead, never read as the address alone', () => {
  for (const [text, address] of [['1.2.3.4:80', '1.2.3.4'], ['1.2.3.4:', '1.2.3.4'], ['[2001:db8::1]:443', '2001:db8::1'], ['[::ffff:1.2.3.4]:80', '::ffff:1.2.3.4'], ['1.2.3.4:80/32', '1.2.3.4']] as const) {
    assert.throws(() => parseBlockTarget(text), (e: Error) => e instanceof InvalidAddressError && e.message.includes('has a port') && e.message.includes(`(${address})`), text);
  }
});

test('a range wider than the scope, or holding loopback, private or link-local addresses, sweeps; a single address never does', () => {
  assert.match(blockSweep('0.0.0.0/0') ?? '', /^0\.0\.0\.0\/0 is a \/0, wider than the \/16 a block may cover without force \(IPWATCH_BLOCK_MAX_PREFIX_V4\); it holds loopback addresses \(127\.0\.0\.0\/8\)/);
  assert.match(blockSweep('::/0') ?? '', /wider than the \/32 .*IPWATCH_BLOCK_MAX_PREFIX_V6.*loopback addresses \(::1\/128\)/);
  assert.match(blockSweep('203.0.0.0/15') ?? '', /is a \/15, wider than the \/16/);
  assert.equal(blockSweep('203.0.0.0/16'), null, 'the widest allowed');
  assert.equal(blockSweep('2001:db8::/32'), null);
  assert.match(blockSweep('2001:db8::/31') ?? '', /is a \/31/);
  assert.match(blockSweep('10.1.2.0/24') ?? '', /^10\.1\.2\.0\/24 holds private addresses \(10\.0\.0\.0\/8\)/);
  assert.match(blockSweep('127.0.0.0/30') ?? '', /holds loopback addresses/);
  assert.match(blockSweep('169.254.169.0/24') ?? '', /link-local/);
  assert.match(blockSweep('fd00:1::/48') ?? '', /private addresses \(fc00::\/7\)/);
  assert.match(blockSweep('172.0.0.0/8', { maxPrefixV4: 8, maxPrefixV6: 32 }) ?? '', /^172\.0\.0\.0\/8 holds private addresses \(172\.16\.0\.0\/12\)/, 'a range holding a private one');
  assert.equal(blockSweep('198.51.100.0/24'), null);
  assert.equal(blockSweep('127.0.0.2'), null, 'one address is what was meant');
  assert.equal(blockSweep('10.0.0.0/8', { maxPrefixV4: 0, maxPrefixV6: 0 }) === null, false, 'private space sweeps whatever the scope');
  assert.equal(blockSweep('8.0.0.0/8', { maxPrefixV4: 8, maxPrefixV6: 32 }), null, 'the scope is configuration');
  assert.deepEqual(DEFAULT_BLOCK_SCOPE, { maxPrefixV4: 16, maxPrefixV6: 32 });
});

test('checkBlockSweep refuses a sweeping block with what to type instead; force lets it through', () => {
  assert.throws(
    () => checkBlockSweep('0.0.0.0/0', DEFAULT_BLOCK_SCOPE, false),
    (e: Error) => e instanceof BlockTooWideError && (e as BlockTooWideError).code === 'IPWATCH_BLOCK_TOO_WIDE' && /repeat with --force \(api: "force": true\) if you mean it/.test(e.message),
  );
  assert.doesNotThrow(() => checkBlockSweep('0.0.0.0/0', DEFAULT_BLOCK_SCOPE, true));
  assert.doesNotThrow(() => checkBlockSweep('203.0.113.0/24', DEFAULT_BLOCK_SCOPE, false));
});

test('checkAllowSweep refuses an allowlist entry wider than /8 or /16 unforced; private ranges and force pass', () => {
  assert.throws(() => checkAllowSweep('0.0.0.0/0', false), (e: Error) => e instanceof AllowTooWideError && (e as AllowTooWideError).code === 'IPWATCH_ALLOW_TOO_WIDE');
  assert.throws(() => checkAllowSweep('2000::/3', false), /a \/3, wider than \/16/);
  assert.doesNotThrow(() => checkAllowSweep('10.0.0.0/8', false));
  assert.doesNotThrow(() => checkAllowSweep('2001:db8::/32', false));
  assert.doesNotThrow(() => checkAllowSweep('203.0.113.7', false));
  assert.doesNotThrow(() => checkAllowSweep('0.0.0.0/0', true));
});

test('isRealDate knows month lengths and leap years', () => {
  assert.equal(isRealDate(2026, 2, 28), true);
  assert.equal(isRealDate(2026, 2, 29), false);
  assert.equal(isRealDate(2028, 2, 29), true);
  assert.equal(isRealDate(2026, 4, 31), false);
  assert.equal(isRealDate(2026, 13, 1), false);
  assert.equal(isRealDate(2026, 1, 0), false);
});
