import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createClientIpResolver, UNKNOWN_IP } from './clientIp.ts';
import { EmitterOptionError } from './errors.ts';

describe('createClientIpResolver', () => {
  test('default trusts nobody: the socket peer, whatever the headers say', () => {
    const r = createClientIpResolver();
    assert.deepEqual(r('203.0.113.7', { 'x-forwarded-for': '1.1.1.1', forwarded: 'for=2.2.2.2' }), { ip: '203.0.113.7', source: 'socket' });
    assert.deepEqual(r('::ffff:127.0.0.1', {}), { ip: '127.0.0.1', source: 'socket' });
    assert.deepEqual(r('2001:DB8:0:0::1', {}), { ip: '2001:db8::1', source: 'socket' });
    assert.deepEqual(r('fe80::1%eth0', {}), { ip: 'fe80::1', source: 'socket' });
  });

  test('unknown or unparseable socket address resolves to the unspecified address', () => {
    const r = createClientIpResolver({ trustedProxies: ['0.0.0.0/0'] });
    assert.deepEqual(r(undefined, { 'x-forwarded-for': '1.2.3.4' }), { ip: UNKNOWN_IP, source: 'socket' });
    assert.deepEqual(r('not an ip', { 'x-forwarded-for': '1.2.3.4' }), { ip: UNKNOWN_IP, source: 'socket' });
  });

  test('spoofing from an untrusted peer: the header is ignored', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    assert.deepEqual(r('198.51.100.9', { 'x-forwarded-for': '10.0.0.1, 1.1.1.1' }), { ip: '198.51.100.9', source: 'socket' });
    assert.deepEqual(r('198.51.100.9', { forwarded: 'for=1.1.1.1' }), { ip: '198.51.100.9', source: 'socket' });
  });

  test('trusted proxy: the rightmost untrusted entry is the client, not what the client wrote', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8', '192.0.2.1'] });
    // the client claimed 6.6.6.6; the CDN (192.0.2.1) and the LB (10.0.0.5) appended what they saw
    assert.deepEqual(r('10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 192.0.2.1' }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
    // the client writes a trusted-looking address: the LB's own entry for the client comes first and stops the walk
    assert.deepEqual(r('10.0.0.5', { 'x-forwarded-for': '10.9.9.9, 203.0.113.7' }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
  });

  test('every hop trusted: the leftmost address is the client', () => {
    const r = createClientIpResolver({ trustedProxies: ['private'] });
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '192.168.1.2, 10.1.1.1' }), { ip: '192.168.1.2', source: 'x-forwarded-for' });
  });

  test('multiple X-Forwarded-For headers joined (array form) are one chain', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    assert.deepEqual(r('10.0.0.2', { 'x-forwarded-for': ['6.6.6.6', '203.0.113.7, 10.0.0.9'] } as never), { ip: '203.0.113.7', source: 'x-forwarded-for' });
    // node's own joining of duplicates
    assert.deepEqual(r('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.9' }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
  });

  test('ports stripped, IPv4-mapped unwrapped, canonical IPv6', () => {
    const r = createClientIpResolver({ trustedProxies: ['loopback'] });
    assert.deepEqual(r('::1', { 'x-forwarded-for': '203.0.113.7:51234' }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
    assert.deepEqual(r('::1', { 'x-forwarded-for': '[2001:DB8::0:1]:443' }), { ip: '2001:db8::1', source: 'x-forwarded-for' });
    assert.deepEqual(r('::ffff:127.0.0.1', { 'x-forwarded-for': '::ffff:198.51.100.2' }), { ip: '198.51.100.2', source: 'x-forwarded-for' });
  });

  test('hop counting', () => {
    const chain = { 'x-forwarded-for': '1.1.1.1, 2.2.2.2, 3.3.3.3' };
    assert.deepEqual(createClientIpResolver({ trustedHops: 0 })('9.9.9.9', chain), { ip: '9.9.9.9', source: 'socket' });
    assert.deepEqual(createClientIpResolver({ trustedHops: 1 })('9.9.9.9', chain), { ip: '3.3.3.3', source: 'x-forwarded-for' });
    assert.deepEqual(createClientIpResolver({ trustedHops: 2 })('9.9.9.9', chain), { ip: '2.2.2.2', source: 'x-forwarded-for' });
    assert.deepEqual(createClientIpResolver({ trustedHops: 3 })('9.9.9.9', chain), { ip: '1.1.1.1', source: 'x-forwarded-for' });
    // more hops trusted than present: the leftmost
    assert.deepEqual(createClientIpResolver({ trustedHops: 9 })('9.9.9.9', chain), { ip: '1.1.1.1', source: 'x-forwarded-for' });
    // no header at all
    assert.deepEqual(createClientIpResolver({ trustedHops: 1 })('9.9.9.9', {}), { ip: '9.9.9.9', source: 'socket' });
  });

  test('RFC 7239 Forwarded: quoted, bracketed IPv6 with ports, case-insensitive parameter', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' }), { ip: '192.0.2.60', source: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'For="[2001:db8:cafe::17]:4711"' }), { ip: '2001:db8:cafe::17', source: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for="192.0.2.43:47011", for=10.0.0.3;proto=https' }), { ip: '192.0.2.43', source: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'proto=https; for=198.51.100.17 ; by=10.0.0.1' }), { ip: '198.51.100.17', source: 'forwarded' });
    // the XFF header is not read in this mode
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '1.1.1.1' }), { ip: '10.0.0.1', source: 'socket' });
  });

  test('Forwarded: obfuscated identifiers and unknown stop the walk at the last trusted hop', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=198.51.100.1, for=_hidden' }), { ip: '10.0.0.1', source: 'socket' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=198.51.100.1, for=unknown' }), { ip: '10.0.0.1', source: 'socket' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=198.51.100.1, for=_x, for=10.0.0.2' }), { ip: '10.0.0.2', source: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'proto=https' }), { ip: '10.0.0.1', source: 'socket' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=1.1.1.1;for=2.2.2.2' }), { ip: '10.0.0.1', source: 'socket' });
  });

  test('by default only X-Forwarded-For is read: a Forwarded header from a client cannot pass through a proxy that sets XFF only', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=6.6.6.6' }), { ip: '10.0.0.1', source: 'socket' });
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '203.0.113.1', forwarded: 'for=6.6.6.6' }), { ip: '203.0.113.1', source: 'x-forwarded-for' });
  });

  test("header 'both': X-Forwarded-For when present, else Forwarded", () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'both' });
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '203.0.113.1', forwarded: 'for=203.0.113.2' }), { ip: '203.0.113.1', source: 'x-forwarded-for' });
    assert.deepEqual(r('10.0.0.1', { forwarded: 'for=203.0.113.2' }), { ip: '203.0.113.2', source: 'forwarded' });
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '', forwarded: 'for=203.0.113.2' }), { ip: '203.0.113.2', source: 'forwarded' });
  });

  test('garbage stops the walk; the result is always a canonical IP, never the raw text', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    const garbage = [
      'garbage', '<script>alert(1)</script>', 'unknown', ',', ' , ,', '1.2.3.4,', '999.1.1.1', '1.2.3.4 5.6.7.8',
      '\u0000\u0001', '1.2.3.4\r\nX-Evil: 1', 'ｆｅ８０::１', '%31.2.3.4', '[::1', '1.2.3.4;for=5.6.7.8', '\ud800',
    ];
    for (const g of garbage) {
      const got = r('10.0.0.1', { 'x-forwarded-for': g });
      assert.deepEqual(got, { ip: '10.0.0.1', source: 'socket' }, `header ${JSON.stringify(g)}`);
    }
    // garbage left of an untrusted entry does not matter; garbage between trusted hops stops there
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': 'garbage, 203.0.113.7' }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': '203.0.113.7, garbage, 10.0.0.2' }), { ip: '10.0.0.2', source: 'x-forwarded-for' });
  });

  test('a header padded past 8 KB is read from its right end, so padding cannot hide the real hop', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    const padded = `${'x'.repeat(20_000)}, ${'1.1.1.1, '.repeat(2000)}203.0.113.7`;
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': padded }), { ip: '203.0.113.7', source: 'x-forwarded-for' });
    const oneHugeEntry = 'y'.repeat(100_000);
    assert.deepEqual(r('10.0.0.1', { 'x-forwarded-for': oneHugeEntry }), { ip: '10.0.0.1', source: 'socket' });
  });

  test('at most 30 hops are walked: a longer trusted chain stops at the 30th', () => {
    const r = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'] });
    const hops = Array.from({ length: 40 }, (_, i) => `10.0.${i}.1`);
    const got = r('10.9.9.9', { 'x-forwarded-for': ['203.0.113.7', ...hops].join(', ') });
    assert.deepEqual(got, { ip: hops[hops.length - 30], source: 'x-forwarded-for' });
  });

  test('invalid options throw at construction, naming the entry', () => {
    assert.throws(() => createClientIpResolver({ trustedProxies: ['10.0.0.0/8', 'localhost'] }), (err: unknown) => {
      assert.ok(err instanceof EmitterOptionError);
      assert.match(err.message, /invalid entry "localhost"/);
      return true;
    });
    assert.throws(() => createClientIpResolver({ trustedProxies: ['10.0.0.1/8'] }), /"10.0.0.1\/8".*host bits set/);
    assert.throws(() => createClientIpResolver({ trustedProxies: ['10.0.0.0/33'] }), /"10.0.0.0\/33"/);
    assert.throws(() => createClientIpResolver({ trustedProxies: [42 as never] }), /42 is not a string/);
    assert.throws(() => createClientIpResolver({ trustedProxies: '10.0.0.0/8' as never }), /must be an array/);
    assert.throws(() => createClientIpResolver({ trustedHops: -1 }), /trustedHops/);
    assert.throws(() => createClientIpResolver({ trustedHops: 1.5 }), /trustedHops/);
    assert.throws(() => createClientIpResolver({ trustedHops: 1, trustedProxies: [] }), /not both/);
    assert.throws(() => createClientIpResolver({ header: 'x-real-ip' as never }), /header must be/);
  });

  test('IPv6 proxies and CIDRs', () => {
    const r = createClientIpResolver({ trustedProxies: ['2001:db8:1::/48', '::ffff:10.0.0.0/104'] });
    assert.deepEqual(r('2001:db8:1::5', { 'x-forwarded-for': '2001:db8:2::9' }), { ip: '2001:db8:2::9', source: 'x-forwarded-for' });
    assert.deepEqual(r('::ffff:10.1.2.3', { 'x-forwarded-for': '198.51.100.4' }), { ip: '198.51.100.4', source: 'x-forwarded-for' });
    assert.deepEqual(r('2001:db8:2::5', { 'x-forwarded-for': '198.51.100.4' }), { ip: '2001:db8:2::5', source: 'socket' });
  });
});
