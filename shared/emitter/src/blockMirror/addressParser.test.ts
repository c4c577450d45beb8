import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { parseIp } from '@ipwatch/core/ip';
import { AddressParser, NOT_IP, V4, V6 } from './addressParser.ts';

const p = new AddressParser();

/** What the parser read, as the same bigint parseIp gives, for comparison. */
function read(text: string): { version: 4 | 6; value: bigint } | null {
  const family = p.parse(text, 0, text.length);
  if (family === NOT_IP) return null;
  if (family === V4) return { version: 4, value: BigInt(p.v4) };
  let value = 0n;
  for (const w of p.words) value = (value << 16n) | BigInt(w);
  return { version: 6, value };
}

test('reads IPv4 and IPv6 as parseIp does', () => {
  const cases = [
    '0.0.0.0', '255.255.255.255', '1.2.3.4', '203.0.113.7', '128.0.0.1', '10.0.0.255',
    '::', '::1', '1::', '2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:db8:85a3::8a2e:370:7334',
    'fe80::1:2:3:4', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
    '0:0:0:0:0:0:0:0', '2001:0db8:0000:0000:0000:0000:0000:0001', '64:ff9b::192.0.2.33', '::192.0.2.33',
  ];
  for (const text of cases) assert.deepEqual(read(text), parseIp(text), text);
});

test('IPv4-mapped IPv6 reads as the IPv4 address, in either spelling', () => {
  for (const text of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:1.2.3.4']) {
    assert.equal(p.parse(text, 0, text.length), V4, text);
    assert.equal(p.v4, 0x01020304, text);
    assert.equal(p.mapped, true);
  }
  p.parse('1.2.3.4', 0, 7);
  assert.equal(p.mapped, false);
});

test('refuses what is not an address', () => {
  const bad = [
    '', ' ', '1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.04', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4 ', 'a.b.c.d',
    ':', ':::', '1:', ':1', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::', 'g::1', '1:2:3:4:5:6:7', '[::1]',
    '::1%eth0', '1.2.3.4:80', '::ffff:1.2.3', '::ffff:1.2.3.256', '1:2:3:4:5:6:7:1.2.3.4', 'unknown', '-', '2001:db8::1/64',
  ];
  for (const text of bad) {
    assert.equal(p.parse(text, 0, text.length), NOT_IP, JSON.stringify(text));
    // parseIp also takes brackets, ports, zones and spaces around; none of those is a bare address.
    if (!/[[\]%\s]|\.\d+:\d+$/.test(text)) assert.equal(parseIp(text), null, `parseIp agrees on ${text}`);
  }
});

test('parses a slice of a longer text (an address before its /len)', () => {
  const text = '2001:db8:1::/48';
  assert.equal(p.parse(text, 0, text.indexOf('/')), V6);
  assert.deepEqual([...p.words], [0x2001, 0xdb8, 1, 0, 0, 0, 0, 0]);
});

test('agrees with parseIp on 20,000 random addresses in canonical and expanded spellings', () => {
  let seed = 42;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 10_000; i++) {
    const v4 = `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
    assert.deepEqual(read(v4), parseIp(v4), v4);
    const groups = Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(65536)).toString(16));
    const full = groups.join(':');
    assert.deepEqual(read(full), parseIp(full), full);
    const compressed = full.replace(/(^|:)0(:0)+(:|$)/, '::');
    assert.deepEqual(read(compressed), parseIp(compressed), compressed);
  }
});
