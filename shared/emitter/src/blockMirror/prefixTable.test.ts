import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { cidrContains, formatCidr, InvalidAddressError, parseCidr, parseIp, type ParsedCidr } from '@ipwatch/core/ip';
import { PrefixTable } from './prefixTable.ts';

const NOW = 1_700_000_000_000;

test('IPv4: host routes and CIDRs, the most specific wins', () => {
  const t = new PrefixTable();
  t.set('10.0.0.0/8', null);
  t.set('10.1.0.0/16', null);
  t.set('10.1.2.0/24', null);
  t.set('10.1.2.3', null);
  assert.equal(t.match('10.1.2.3', NOW), '10.1.2.3');
  assert.equal(t.match('10.1.2.4', NOW), '10.1.2.0/24');
  assert.equal(t.match('10.1.3.4', NOW), '10.1.0.0/16');
  assert.equal(t.match('10.200.3.4', NOW), '10.0.0.0/8');
  assert.equal(t.match('11.0.0.1', NOW), null);
  assert.equal(t.match('9.255.255.255', NOW), null);
  assert.equal(t.size, 4);
});

test('IPv4: every length from /1 to /32, including both halves of the address space', () => {
  const t = new PrefixTable();
  t.set('128.0.0.0/1', null);
  assert.equal(t.match('200.1.1.1', NOW), '128.0.0.0/1');
  assert.equal(t.match('127.255.255.255', NOW), null);
  // A chain of nested networks around 203.0.113.77, one per length (the /1 is there already).
  const ip = parseIp('203.0.113.77')!;
  for (let len = 2; len <= 32; len++) {
    const target = formatCidr({ version: 4, network: ip.value & (((1n << BigInt(len)) - 1n) << BigInt(32 - len)), prefix: len });
    t.set(len === 32 ? '203.0.113.77' : target, null);
  }
  assert.equal(t.match('203.0.113.77', NOW), '203.0.113.77');
  assert.equal(t.match('203.0.113.76', NOW), '203.0.113.76/31');
  assert.equal(t.match('203.0.113.64', NOW), '203.0.113.64/28');
  assert.equal(t.match('203.0.112.1', NOW), '203.0.112.0/23');
  assert.equal(t.match('203.128.0.1', NOW), '203.0.0.0/8');
  for (let len = 32; len >= 2; len--) {
    const expected = t.match('203.0.113.77', NOW);
    assert.ok(expected !== null && (len === 32 || expected.endsWith(`/${len}`)), `${expected} at /${len}`);
    assert.equal(t.delete(expected), true);
    assert.notEqual(t.match('203.0.113.77', NOW), expected);
  }
  assert.equal(t.size, 1, 'only 128.0.0.0/1 is left');
  assert.equal(t.match('203.0.113.77', NOW), '128.0.0.0/1');
});

test('/0 matches every address of its family only', () => {
  const t = new PrefixTable();
  t.set('0.0.0.0/0', null);
  assert.equal(t.match('1.2.3.4', NOW), '0.0.0.0/0');
  assert.equal(t.match('255.255.255.255', NOW), '0.0.0.0/0');
  assert.equal(t.match('2001:db8::1', NOW), null);
  t.set('::/0', null);
  assert.equal(t.match('2001:db8::1', NOW), '::/0');
  assert.equal(t.match('::', NOW), '::/0');
  t.set('2001:db8::1', null);
  assert.equal(t.match('2001:db8::1', NOW), '2001:db8::1');
  assert.equal(t.match('2001:db8::2', NOW), '::/0');
});

test('IPv6: host routes and CIDRs of many lengths, the most specific wins', () => {
  const t = new PrefixTable();
  t.set('2001:db8::/32', null);
  t.set('2001:db8:1::/48', null);
  t.set('2001:db8:1:2::/64', null);
  t.set('2001:db8:1:2:3::/80', null);
  t.set('2001:db8:1:2:3:4:5:6', null);
  t.set('2001:db8:1:2:3:4:5:0/127', null);
  t.set('2000::/3', null);
  t.set('2001:db8:8000::/33', null);
  t.set('2001:db8:1:2:3:4:5:0/113', null);
  assert.equal(t.match('2001:db8:1:2:3:4:5:6', NOW), '2001:db8:1:2:3:4:5:6');
  assert.equal(t.match('2001:db8:1:2:3:4:5:1', NOW), '2001:db8:1:2:3:4:5:0/127');
  assert.equal(t.match('2001:db8:1:2:3:4:5:7', NOW), '2001:db8:1:2:3:4:5:0/113');
  assert.equal(t.match('2001:db8:1:2:3:4:5:8000', NOW), '2001:db8:1:2:3::/80');
  assert.equal(t.match('2001:db8:1:2:ffff::1', NOW), '2001:db8:1:2::/64');
  assert.equal(t.match('2001:db8:1:ffff::1', NOW), '2001:db8:1::/48');
  assert.equal(t.match('2001:db8:ffff::1', NOW), '2001:db8:8000::/33');
  assert.equal(t.match('2001:db8:7fff::1', NOW), '2001:db8::/32');
  assert.equal(t.match('2001:db9::1', NOW), '2000::/3');
  assert.equal(t.match('3fff:ffff::1', NOW), '2000::/3');
  assert.equal(t.match('4000::1', NOW), null);
  assert.equal(t.match('fe80::1', NOW), null);
});

test('IPv6: any valid spelling of an address or target finds the same entry', () => {
  const t = new PrefixTable();
  t.set('2001:db8::1', null);
  assert.equal(t.match('2001:DB8:0:0:0:0:0:1', NOW), '2001:db8::1');
  assert.equal(t.match('2001:0db8::0001', NOW), '2001:db8::1');
  assert.equal(t.get('2001:0db8:0:0::1'), null);
  assert.equal(t.delete('2001:0DB8:0::1'), true);
  assert.equal(t.size, 0);
});

test('IPv4-mapped IPv6 addresses count as IPv4, on lookup and on set', () => {
  const t = new PrefixTable();
  t.set('192.0.2.0/24', null);
  assert.equal(t.match('::ffff:192.0.2.7', NOW), '192.0.2.0/24');
  assert.equal(t.match('::ffff:c000:207', NOW), '192.0.2.0/24');
  t.set('::ffff:198.51.100.9', null);
  assert.equal(t.match('198.51.100.9', NOW), '::ffff:198.51.100.9');
  t.set('::ffff:10.0.0.0/104', null);
  assert.equal(t.match('10.20.30.40', NOW), '::ffff:10.0.0.0/104');
  assert.equal(t.get('10.0.0.0/8'), null, 'it is the IPv4 /8');
  assert.throws(() => t.set('::ffff:0.0.0.0/95', null), /at least 96/);
});

test('an entry stops matching exactly at expiresAt, and the shorter entry behind it takes over', () => {
  const t = new PrefixTable();
  t.set('10.0.0.0/8', NOW + 3000);
  t.set('10.1.0.0/16', null);
  t.set('10.1.2.0/24', NOW + 2000);
  t.set('10.1.2.3', NOW + 1000);
  assert.equal(t.match('10.1.2.3', NOW + 999), '10.1.2.3');
  assert.equal(t.match('10.1.2.3', NOW + 1000), '10.1.2.0/24', 'expired at expiresAt');
  assert.equal(t.match('10.1.2.3', NOW + 1999), '10.1.2.0/24');
  assert.equal(t.match('10.1.2.3', NOW + 2000), '10.1.0.0/16');
  assert.equal(t.match('10.9.9.9', NOW + 2999), '10.0.0.0/8');
  assert.equal(t.match('10.9.9.9', NOW + 3000), null);
  assert.equal(t.match('10.1.2.3', NOW + 1e12), '10.1.0.0/16', 'never means never');
  assert.equal(t.size, 4, 'expired entries stay until deleted (no tombstone work on the clock)');
  // The same in IPv6, across the short (<= /32) and long parts of the table.
  t.set('2001:db8::/32', NOW + 2000);
  t.set('2001:db8:1::/48', NOW + 1000);
  t.set('2001:db8:1::5', NOW + 500);
  assert.equal(t.match('2001:db8:1::5', NOW + 499), '2001:db8:1::5');
  assert.equal(t.match('2001:db8:1::5', NOW + 500), '2001:db8:1::/48');
  assert.equal(t.match('2001:db8:1::5', NOW + 1000), '2001:db8::/32');
  assert.equal(t.match('2001:db8:1::5', NOW + 2000), null);
});

test('an expiry in the past never matches; set again updates expiry and text in place', () => {
  const t = new PrefixTable();
  t.set('192.0.2.1', NOW - 1);
  assert.equal(t.match('192.0.2.1', NOW), null);
  t.set('192.0.2.1', NOW + 10);
  assert.equal(t.match('192.0.2.1', NOW), '192.0.2.1');
  t.set('::ffff:192.0.2.1', null);
  assert.equal(t.size, 1);
  assert.equal(t.get('192.0.2.1'), null);
  assert.equal(t.match('192.0.2.1', NOW + 1e9), '::ffff:192.0.2.1');
});

test('delete removes exactly one entry and says whether it was there', () => {
  const t = new PrefixTable();
  t.set('10.0.0.0/8', null);
  t.set('10.0.0.0/16', null);
  t.set('2001:db8::/48', null);
  t.set('2001:db8::/64', null);
  assert.equal(t.delete('10.0.0.0/16'), true);
  assert.equal(t.delete('10.0.0.0/16'), false);
  assert.equal(t.delete('10.0.0.0/24'), false);
  assert.equal(t.match('10.0.1.1', NOW), '10.0.0.0/8');
  assert.equal(t.delete('2001:db8::/64'), true);
  assert.equal(t.match('2001:db8::1', NOW), '2001:db8::/48');
  assert.equal(t.delete('2001:db8::/48'), true);
  assert.equal(t.match('2001:db8::1', NOW), null);
  assert.equal(t.delete('2001:db8::/48'), false);
  assert.equal(t.size, 1);
});

test('slots are reused after delete, and clear empties everything', () => {
  const t = new PrefixTable();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5000; i++) t.set(`10.0.${i >> 8}.${i & 255}`, null);
    for (let i = 0; i < 5000; i++) assert.equal(t.delete(`10.0.${i >> 8}.${i & 255}`), true);
  }
  assert.equal(t.size, 0);
  assert.equal(t.match('10.0.0.1', NOW), null);
  t.set('10.0.0.0/8', null);
  t.set('2001:db8::/64', null);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.match('10.0.0.1', NOW), null);
  assert.equal(t.match('2001:db8::1', NOW), null);
  t.set('10.0.0.1', null);
  assert.equal(t.match('10.0.0.1', NOW), '10.0.0.1', 'usable after clear');
});

test('garbage lookups return null, never throw', () => {
  const t = new PrefixTable();
  t.set('0.0.0.0/0', null);
  t.set('::/0', null);
  for (const ip of ['', 'unknown', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4/32', '[::1]', '::1%eth0', ':::', '1.2.3.4:80', 'x'.repeat(1000), '2001:db8::g', '\u0000']) {
    assert.equal(t.match(ip, NOW), null, JSON.stringify(ip));
  }
});

test('bad targets are refused with InvalidAddressError, and nothing is stored', () => {
  const t = new PrefixTable();
  for (const bad of ['', 'nope', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.1/8', '2001:db8::1/64', '2001:db8::/129', '1.2.3.4/3x', '::1%lo']) {
    assert.throws(() => t.set(bad, null), InvalidAddressError, bad);
    assert.throws(() => t.delete(bad), InvalidAddressError, bad);
  }
  assert.throws(() => t.set('10.0.0.1', Number.NaN), TypeError);
  assert.equal(t.size, 0);
});

test('agrees with a plain BigInt matcher on random nested tables, deletions and clocks', () => {
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  // Few /16s and /32s, so that entries nest and collide on purpose.
  const v4Base = [0x0a000000n, 0xcb007100n, 0xc0a80000n];
  const v6Base = [0x20010db8n << 96n, 0x2a010000n << 96n];
  interface RefEntry { cidr: ParsedCidr; target: string; exp: number }
  const ref = new Map<string, RefEntry>();
  const t = new PrefixTable();
  const randomAddress = (): { version: 4 | 6; value: bigint } => {
    if (rnd(2) === 0) return { version: 4, value: v4Base[rnd(v4Base.length)]! | BigInt(rnd(1 << 16)) };
    const base = v6Base[rnd(v6Base.length)]!;
    return { version: 6, value: base | (BigInt(rnd(4)) << 80n) | (BigInt(rnd(4)) << 64n) | (BigInt(rnd(1 << 16)) << 16n) | BigInt(rnd(4)) };
  };
  for (let i = 0; i < 4000; i++) {
    const a = randomAddress();
    const bits = a.version === 4 ? 32 : 128;
    const prefix = rnd(4) === 0 ? bits : a.version === 4 ? 8 + rnd(25) : 16 + rnd(113);
    const m = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
    const cidr = { version: a.version, network: a.value & m, prefix };
    const canonical = formatCidr(cidr);
    const target = prefix === bits ? canonical.slice(0, canonical.indexOf('/')) : canonical;
    if (rnd(5) === 0 && ref.size > 0) {
      const victim = [...ref.keys()][rnd(ref.size)]!;
      ref.delete(victim);
      assert.equal(t.delete(victim), true);
      continue;
    }
    const exp = [Number.POSITIVE_INFINITY, NOW + rnd(10_000), NOW - 1][rnd(3)]!;
    ref.set(target, { cidr: parseCidr(target), target, exp });
    t.set(target, exp === Number.POSITIVE_INFINITY ? null : exp);
  }
  assert.equal(t.size, ref.size);
  const naive = (ip: string, now: number): string | null => {
    const p = parseIp(ip)!;
    let best: RefEntry | null = null;
    for (const e of ref.values()) if (e.exp > now && cidrContains(e.cidr, p) && (!best || e.cidr.prefix > best.cidr.prefix)) best = e;
    return best?.target ?? null;
  };
  let hits = 0;
  for (let i = 0; i < 3000; i++) {
    const a = randomAddress();
    const text = formatCidr({ version: a.version, network: a.value, prefix: 0 }).replace(/\/0$/, '');
    const now = NOW + rnd(12_000) - 1000;
    const expected = naive(text, now);
    if (expected) hits++;
    assert.equal(t.match(text, now), expected, `${text} at ${now - NOW}`);
  }
  assert.ok(hits > 300 && hits < 2700, `both hits and misses were tried (${hits} hits)`);
});
