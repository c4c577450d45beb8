import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { canonicalIp, parseCidr, formatCidr, cidrContains, parseIp, classifyIp, InvalidAddressError, toIpv6Column } from './ip.ts';

test('canonical forms: ports, brackets, zones, mapped IPv4, case and zero compression', () => {
  const cases: Array<[string, string | null]> = [
    ['1.2.3.4', '1.2.3.4'],
    [' 1.2.3.4 ', '1.2.3.4'],
    ['1.2.3.4:8080', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0102:0304', '1.2.3.4'],
    ['[::ffff:1.2.3.4]:443', '1.2.3.4'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]:80', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['01.2.3.4', null],
    ['256.1.1.1', null],
    ['1.2.3', null],
    ['unknown', null],
    ['', null],
    ['1.2.3.4:99999999', null],
    ['1::2::3', null],
    ['1:2:3:4:5:6:7:8:9', null],
    ['12345::', null],
    ['<script>', null],
    ['1.2.3.4, 5.6.7.8', null],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIp(input), expected, input);
});

test('CIDRs parse, contain, and refuse bad input with a message saying what is wrong', () => {
  const c = parseCidr('10.0.0.0/8');
  assert.equal(formatCidr(c), '10.0.0.0/8');
  assert.ok(cidrContains(c, parseIp('10.200.3.4')!));
  assert.ok(!cidrContains(c, parseIp('11.0.0.1')!));
  assert.ok(!cidrContains(c, parseIp('::a00:1')!), 'IPv6 never matches an IPv4 range');
  assert.equal(formatCidr(parseCidr('2001:db8::/32')), '2001:db8::/32');
  assert.equal(formatCidr(parseCidr('1.2.3.4')), '1.2.3.4/32');
  assert.equal(formatCidr(parseCidr('::ffff:10.0.0.0/104')), '10.0.0.0/8');
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
  assert.throws(() => parseCidr('10.0.0.1/8'), /host bits set: did you mean 10.0.0.0\/8/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length must be a number from 0 to 32/);
  assert.throws(() => parseCidr('2001:db8::/129'), /0 to 128/);
  assert.throws(() => parseCidr('bogus/8'), InvalidAddressError);
  assert.throws(() => parseCidr('10.0.0.0/-1'), InvalidAddressError);
});

test('address classes', () => {
  const cls = (s: string) => classifyIp(parseIp(s)!);
  assert.equal(cls('8.8.8.8'), 'public');
  assert.equal(cls('192.168.1.1'), 'private');
  assert.equal(cls('10.1.1.1'), 'private');
  assert.equal(cls('127.0.0.1'), 'loopback');
  assert.equal(cls('::1'), 'loopback');
  assert.equal(cls('fd00::1'), 'private');
  assert.equal(cls('fe80::1'), 'link-local');
  assert.equal(cls('203.0.113.9'), 'documentation');
  assert.equal(cls('2606:4700::1111'), 'public');
  assert.equal(cls('100.64.0.1'), 'cgnat');
  assert.equal(cls('255.255.255.255'), 'reserved');
});

test('IPv6 column form maps IPv4', () => {
  assert.equal(toIpv6Column(parseIp('1.2.3.4')!), '::ffff:1.2.3.4');
  assert.equal(toIpv6Column(parseIp('2001:db8::1')!), '2001:db8::1');
});
