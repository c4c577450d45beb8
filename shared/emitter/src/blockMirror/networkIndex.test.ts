import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { BitsIndex, Int128Index, Int32Index } from './networkIndex.ts';

let seed = 99;
const rand32 = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) | 0;
};

test('Int32Index agrees with a Map through random sets, overwrites and deletes (growth and back-shifts included)', () => {
  const index = new Int32Index();
  const ref = new Map<string, number>();
  // Few distinct keys and lengths, so runs collide and deletes shift often.
  const keys = Array.from({ length: 3000 }, () => rand32());
  for (let op = 0; op < 60_000; op++) {
    const key = keys[(rand32() >>> 0) % keys.length]!;
    const len = (rand32() >>> 0) % 129;
    const id = `${key}/${len}`;
    if ((rand32() >>> 0) % 3 === 0) {
      assert.equal(index.delete(key, len), ref.get(id) ?? -1);
      ref.delete(id);
    } else {
      const slot = (rand32() >>> 0) % 16_000_000;
      assert.equal(index.set(key, len, slot), ref.get(id) ?? -1);
      ref.set(id, slot);
    }
    if (op % 5000 === 0) for (const [k, v] of ref) assert.equal(index.get(Number(k.split('/')[0]), Number(k.split('/')[1])), v);
  }
  assert.equal(index.size, ref.size);
  for (const [k, v] of ref) assert.equal(index.get(Number(k.split('/')[0]), Number(k.split('/')[1])), v);
  assert.equal(index.get(12345, 7), ref.get('12345/7') ?? -1);
});

test('Int128Index agrees with a Map through random sets, overwrites and deletes', () => {
  const index = new Int128Index();
  const ref = new Map<string, number>();
  const keys = Array.from({ length: 2000 }, () => [rand32(), rand32() & 3, rand32(), rand32() & 1] as const);
  for (let op = 0; op < 40_000; op++) {
    const [a, b, c, d] = keys[(rand32() >>> 0) % keys.length]!;
    const len = 33 + ((rand32() >>> 0) % 96);
    const id = `${a},${b},${c},${d}/${len}`;
    if ((rand32() >>> 0) % 3 === 0) {
      assert.equal(index.delete(a, b, c, d, len), ref.get(id) ?? -1);
      ref.delete(id);
    } else {
      const slot = (rand32() >>> 0) % 1_000_000;
      assert.equal(index.set(a, b, c, d, len, slot), ref.get(id) ?? -1);
      ref.set(id, slot);
    }
  }
  assert.equal(index.size, ref.size);
  for (const [id, v] of ref) {
    const [words, len] = id.split('/') as [string, string];
    const [a, b, c, d] = words.split(',').map(Number) as [number, number, number, number];
    assert.equal(index.get(a, b, c, d, Number(len)), v);
  }
});

test('BitsIndex keeps words per key in place, adds and deletes', () => {
  const index = new BitsIndex();
  const ref = new Map<number, number>();
  const keys = Array.from({ length: 1500 }, () => rand32());
  for (let op = 0; op < 30_000; op++) {
    const key = keys[(rand32() >>> 0) % keys.length]!;
    if ((rand32() >>> 0) % 3 === 0) {
      index.delete(key);
      ref.delete(key);
    } else {
      const at = index.findOrAdd(key);
      index.cells[at + 2] = op;
      ref.set(key, op);
    }
  }
  assert.equal(index.size, ref.size);
  for (const [key, op] of ref) assert.equal(index.cells[index.find(key) + 2], op);
  for (const key of keys) if (!ref.has(key)) assert.equal(index.find(key), -1);
});
