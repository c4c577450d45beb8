import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { classifyIp, parseCidr, cidrContains, parseIp, canonicalIp } from '@ipwatch/core/ip';
import { createIpAnonymiser, HASHED_IP_PREFIX } from './anonymise.ts';
import { EmitterOptionError } from './errors.ts';

const KEY = 'k'.repeat(32);

describe('createIpAnonymiser', () => {
  test('off returns the address unchanged', () => {
    const a = createIpAnonymiser({ mode: 'off' });
    assert.equal(a.mode, 'off');
    assert.equal(a.anonymise('203.0.113.7'), '203.0.113.7');
  });

  test('truncate zeroes host bits, defaults /24 and /48', () => {
    const a = createIpAnonymiser({ mode: 'truncate' });
    assert.equal(a.anonymise('1.2.3.4'), '1.2.3.0');
    assert.equal(a.anonymise('255.255.255.255'), '255.255.255.0');
    assert.equal(a.anonymise('2001:db8:1:2:3:4:5:6'), '2001:db8:1::');
    assert.equal(a.anonymise('::ffff:1.2.3.4'), '1.2.3.0');
    assert.equal(a.anonymise('not an ip'), '0.0.0.0');
  });

  test('truncate with custom prefixes', () => {
    const a = createIpAnonymiser({ mode: 'truncate', v4Prefix: 16, v6Prefix: 64 });
    assert.equal(a.anonymise('1.2.3.4'), '1.2.0.0');
    assert.equal(a.anonymise('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::');
    assert.equal(createIpAnonymiser({ mode: 'truncate', v4Prefix: 32 }).anonymise('1.2.3.4'), '1.2.3.4');
    assert.equal(createIpAnonymiser({ mode: 'truncate', v4Prefix: 0 }).anonymise('1.2.3.4'), '0.0.0.0');
  });

  test('hash: keyed, stable, an IPv6 address under the documented prefix, canonical input first', () => {
    const a = createIpAnonymiser({ mode: 'hash', key: KEY });
    const prefix = parseCidr(HASHED_IP_PREFIX);
    const h = a.anonymise('203.0.113.7');
    assert.equal(canonicalIp(h), h, 'a canonical address');
    const parsed = parseIp(h)!;
    assert.ok(cidrContains(prefix, parsed));
    assert.notEqual(classifyIp(parsed), 'public');
    assert.equal(a.anonymise('::ffff:203.0.113.7'), h, 'same address, same pseudonym');
    assert.equal(createIpAnonymiser({ mode: 'hash', key: Buffer.from(KEY) }).anonymise('203.0.113.7'), h);
    assert.notEqual(a.anonymise('203.0.113.8'), h);
    assert.notEqual(createIpAnonymiser({ mode: 'hash', key: 'x'.repeat(32) }).anonymise('203.0.113.7'), h, 'another key, another pseudonym');
    // the 96 low bits are the HMAC's first 96 bits
    const digest = createHmac('sha256', KEY).update('203.0.113.7').digest();
    const low = parsed.value & ((1n << 96n) - 1n);
    assert.equal(low.toString(16).padStart(24, '0'), digest.subarray(0, 12).toString('hex'));
  });

  test('hash results are cached in a bounded map, and stay right after eviction', () => {
    const a = createIpAnonymiser({ mode: 'hash', key: KEY, cacheSize: 4 });
    const first = Array.from({ length: 10 }, (_, i) => a.anonymise(`10.0.0.${i}`));
    const again = Array.from({ length: 10 }, (_, i) => a.anonymise(`10.0.0.${i}`));
    assert.deepEqual(again, first);
    assert.equal(new Set(first).size, 10);
  });

  test('hash without a key of >= 16 bytes throws at construction', () => {
    assert.throws(() => createIpAnonymiser({ mode: 'hash' }), (err: unknown) => err instanceof EmitterOptionError && /at least 16 bytes \(got none\)/.test(err.message));
    assert.throws(() => createIpAnonymiser({ mode: 'hash', key: 'short' }), /got 5/);
    assert.throws(() => createIpAnonymiser({ mode: 'hash', key: Buffer.alloc(15) }), /got 15/);
    assert.throws(() => createIpAnonymiser({ mode: 'hash', key: 42 as never }), /got none/);
  });

  test('bad options throw', () => {
    assert.throws(() => createIpAnonymiser({ mode: 'scramble' as never }), /mode must be/);
    assert.throws(() => createIpAnonymiser({ mode: 'truncate', v4Prefix: 33 }), /v4Prefix/);
    assert.throws(() => createIpAnonymiser({ mode: 'truncate', v6Prefix: -1 }), /v6Prefix/);
    assert.throws(() => createIpAnonymiser({ mode: 'truncate', key: KEY }), /only used in anonymise mode 'hash'/);
  });
});
