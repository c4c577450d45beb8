import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { canonicalIp } from '@ipwatch/core/ip';
import { EmitterOptionError } from '../errors.ts';
import { ipLimitKey, keyPart, validIpv6Prefix } from './limitKey.ts';

test('IPv4 is its own key; IPv4-mapped IPv6 counts as the IPv4 address', () => {
  assert.equal(ipLimitKey('203.0.113.7'), '203.0.113.7');
  assert.equal(ipLimitKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(ipLimitKey(canonicalIp('::FFFF:203.0.113.7')!), '203.0.113.7');
});

test('IPv6 is keyed by its /64 by default, in canonical text', () => {
  assert.equal(ipLimitKey('2001:db8:1:2:a:b:c:d'), '2001:db8:1:2::/64');
  assert.equal(ipLimitKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(ipLimitKey('2001:db8:1:2::1'), ipLimitKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  assert.notEqual(ipLimitKey('2001:db8:1:2::1'), ipLimitKey('2001:db8:1:3::1'));
  assert.equal(ipLimitKey('2001:db8::1'), '2001:db8::/64');
  assert.equal(ipLimitKey('::1'), '::/64');
  assert.equal(ipLimitKey('2001:DB8:0:0:1::1'), '2001:db8::/64');
  assert.equal(ipLimitKey('64:ff9b::192.0.2.1', 128), '192.0.2.1', 'NAT64: the IPv4 client it carries');
});

test('other prefix lengths, partial groups included', () => {
  assert.equal(ipLimitKey('2001:db8:1:2:a:b:c:d', 48), '2001:db8:1::/48');
  assert.equal(ipLimitKey('2001:db8:1:2:a:b:c:d', 56), '2001:db8:1::/56');
  assert.equal(ipLimitKey('2001:db8:1:2ff:a:b:c:d', 56), '2001:db8:1:200::/56');
  assert.equal(ipLimitKey('2001:db8:1:2:a:b:c:d', 128), '2001:db8:1:2:a:b:c:d');
  assert.equal(ipLimitKey('2001:db8:1:2:a:b:c:d', 1), '::/1');
  assert.equal(ipLimitKey('ffff::1', 1), '8000::/1');
});

test('text that is not an address is returned as is, bounded', () => {
  assert.equal(ipLimitKey('0.0.0.0'), '0.0.0.0');
  assert.equal(ipLimitKey('not:an:address'), 'not:an:address');
  assert.equal(ipLimitKey(`${'a:'.repeat(60)}`).length, 64);
});

test('the prefix option is validated', () => {
  assert.equal(validIpv6Prefix(64), 64);
  for (const bad of [0, 129, 64.5, '64', null]) assert.throws(() => validIpv6Prefix(bad), EmitterOptionError);
});

test('user ids and usernames: short printable ASCII kept, anything else hashed', () => {
  assert.equal(keyPart('alice'), 'alice');
  assert.equal(keyPart(''), null);
  const long = keyPart('x'.repeat(500))!;
  assert.match(long, /^sha256:[0-9a-f]{32}$/);
  assert.equal(keyPart('x'.repeat(500)), long);
  assert.match(keyPart('a b')!, /^sha256:/);
  assert.match(keyPart('jürgen')!, /^sha256:/);
  assert.match(keyPart('x\r\ny')!, /^sha256:/);
});

test('NAT64 addresses are counted as the IPv4 client they carry; a plain value cannot pose as a hashed one', () => {
  assert.equal(ipLimitKey('64:ff9b::102:304'), '1.2.3.4');
  assert.equal(ipLimitKey('64:ff9b::506:708'), '5.6.7.8');
  assert.equal(ipLimitKey('64:ff9b:1::1'), '64:ff9b:1::/64', 'the local-use NAT64 prefix is left alone');
  const hashed = keyPart('ålice')!;
  assert.match(hashed, /^sha256:/);
  assert.notEqual(keyPart(hashed), hashed);
});
