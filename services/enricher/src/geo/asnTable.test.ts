import { test, describe, beforeAll, afterAll } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAsnTable, AsnDataError } from './asnTable.ts';

let dir: string;
const file = (name: string, rows: string[]): string => {
  const path = join(dir, name);
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipwatch-asn-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadAsnTable', () => {
  test('finds the range holding an address, with quoted organisations, and nothing in gaps', () => {
    const t = loadAsnTable({
      v4: file('a4.csv', ['16777216,16777471,13335,"Cloudflare, Inc."', '134744064,134744319,15169,Google LLC', '3758095360,4294967295,64500,"LLC ""SPUTNIK"""']),
      v6: file('a6.csv', [
        // 2001:4860::/32 and 2a00:1450::/32
        '42541956101370907050197289607612071936,42541956180599069564461627201156022271,15169,Google LLC',
        '55827987809411540836515382960316219392,55827987888639703350779720553860169727,15169,Google LLC',
      ]),
    });
    assert.deepEqual(t.ranges, { v4: 3, v6: 2 });
    assert.deepEqual(t.v4(16777216), { asn: 13335, org: 'Cloudflare, Inc.' });
    assert.deepEqual(t.v4(16777471), { asn: 13335, org: 'Cloudflare, Inc.' });
    assert.equal(t.v4(16777472), null);
    assert.equal(t.v4(0), null);
    assert.deepEqual(t.v4(134744072), { asn: 15169, org: 'Google LLC' });
    assert.deepEqual(t.v4(4294967295), { asn: 64500, org: 'LLC "SPUTNIK"' });
    // Equal (asn, org) pairs share one object: lookups allocate nothing.
    assert.equal(t.v6(0x20014860, 0x48600000, 0, 0x8888), t.v6(0x2a001450, 0x4001080b, 0, 0x200e));
    assert.deepEqual(t.v6(0x20014860, 0xffffffff, 0xffffffff, 0xffffffff), { asn: 15169, org: 'Google LLC' });
    assert.equal(t.v6(0x20014861, 0, 0, 0), null);
    assert.equal(t.v6(0x20010000, 0, 0, 0), null);
  });

  test('an overlapping row is clipped so the earlier row keeps the overlap', () => {
    const t = loadAsnTable({
      v4: file('o4.csv', ['100,200,1,first', '150,300,2,second', '160,250,3,inside']),
      v6: file('o6.csv', ['100,200,1,first', '150,300,2,second']),
    });
    assert.equal(t.v4(199)?.asn, 1);
    assert.equal(t.v4(200)?.asn, 1);
    assert.equal(t.v4(201)?.asn, 2);
    assert.equal(t.v4(300)?.asn, 2);
    assert.equal(t.ranges.v4, 2);
    assert.equal(t.v6(0, 0, 0, 200)?.asn, 1);
    assert.equal(t.v6(0, 0, 0, 201)?.asn, 2);
  });

  test('corrupt files fail with the file, the line and what to do', () => {
    const v6 = file('ok6.csv', ['1,2,3,x']);
    assert.throws(() => loadAsnTable({ v4: file('b1.csv', ['1,2,3,x', 'oops,2,3,x']), v6 }), (e: Error) => e instanceof AsnDataError && /b1\.csv:2: a range start that is not a decimal.*reinstall/.test(e.message));
    assert.throws(() => loadAsnTable({ v4: file('b2.csv', ['1,2,AS3,x']), v6 }), /a bad AS number/);
    assert.throws(() => loadAsnTable({ v4: file('b3.csv', ['4294967296,4294967296,3,x']), v6 }), /above 2\^32/);
    assert.throws(() => loadAsnTable({ v4: file('b4.csv', ['10,20,3,x', '5,6,3,y']), v6 }), /not sorted/);
    assert.throws(() => loadAsnTable({ v4: v6, v6: file('b5.csv', [`${2n ** 128n},${2n ** 128n},1,x`]) }), /b5\.csv:1: .*below 2\^128/);
  });
});
