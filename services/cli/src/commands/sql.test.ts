/**
 * How `ipwatch sql` shows a result: the table (aligned, numbers right, hostile text printable,
 * cut to the terminal's width) and the CSV (formulas neutralised, numbers left as numbers).
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { sqlResultToCsv } from '@ipwatch/store';
import { footer, renderTable } from './sql.ts';

const columns = [
  { name: 'path', type: 'String' },
  { name: 'n', type: 'UInt64' },
  { name: 'share', type: 'Nullable(Float64)' },
  { name: 'tags', type: 'Array(String)' },
];

test('the table: a header, a rule, numbers right-aligned, NULL and arrays shown, terminal escapes as U+FFFD', () => {
  const lines = renderTable({ columns, rows: [['/a\u001b[2J', '12', 0.5, ['x', 'y']], ['/bb\u202Egpj.exe', '3', null, []]] }, 120);
  assert.deepEqual(lines, [
    'path          n  share  tags',
    '-----------  --  -----  ---------',
    '/a\uFFFD[2J       12    0.5  ["x","y"]',
    '/bb\uFFFDgpj.exe   3   NULL  []',
  ]);
});

test('the table fits the width: the widest columns give first, their long cells cut with …', () => {
  const long = `/${'p'.repeat(300)}`;
  const ua = `Mozilla/5.0 ${'u'.repeat(200)}`;
  const lines = renderTable({ columns: [{ name: 'path', type: 'String' }, { name: 'user_agent', type: 'String' }, { name: 'n', type: 'UInt64' }], rows: [[long, ua, '1']] }, 80);
  for (const l of lines) assert.ok(Array.from(l).length <= 80, l);
  const row = lines[2]!;
  assert.match(row, /^\/p+… {2}Mozilla\/5\.0 u+… {2}1$/);
  // Columns narrowed evenly: the two text columns end within a column of each other.
  const [a, b] = lines[1]!.split('  ');
  assert.ok(Math.abs(a!.length - b!.length) <= 1, lines[1]);
  // Too many columns to fit even at their narrowest: kept at 8 characters each, not cut further.
  const many = Array.from({ length: 12 }, (_, i) => ({ name: `column_${i}`, type: 'String' }));
  const wide = renderTable({ columns: many, rows: [many.map(() => 'x'.repeat(30))] }, 80);
  assert.ok(wide[2]!.split('  ').every((c) => c === `${'x'.repeat(7)}…`), wide[2]);
});

test('the footer: rows, rows read, time, the audit id', () => {
  assert.equal(footer({ rows: [[1]], rowsRead: 1234567, elapsedMs: 42, auditId: 'a-b' }), '1 row, read 1,234,567 rows in 42 ms (audit id a-b)');
  assert.equal(footer({ rows: [], rowsRead: 0, elapsedMs: 0, auditId: 'x' }), '0 rows, read 0 rows in 0 ms (audit id x)');
});

test('the CSV: a header, quoted where needed, a formula made text, a negative number kept a number', () => {
  const csv = sqlResultToCsv({ columns, rows: [['=cmd|"/c calc"!A1', '-3', -0.25, ['a,b']], ['-1 day', '7', null, []], ['@SUM(1)', '1', 1e-7, ['+x']]] });
  assert.equal(
    csv,
    [
      'path,n,share,tags',
      '"\'=cmd|""/c calc""!A1",-3,-0.25,"[""a,b""]"',
      "'-1 day,7,,[]",
      "'@SUM(1),1,1e-7,\"[\"\"+x\"\"]\"",
      '',
    ].join('\n'),
  );
});
