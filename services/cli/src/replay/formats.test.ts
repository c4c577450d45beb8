import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createFormatDetector, type LogFormat } from './formats.ts';

const combined = (i: number) => `10.0.0.${i} - - [17/May/2015:10:05:03 +0000] "GET /${i} HTTP/1.1" 200 1 "-" "agent"`;
const common = (i: number) => `10.0.0.${i} - - [17/May/2015:10:05:03 +0000] "GET /${i} HTTP/1.1" 200 1`;
const json = (i: number) => JSON.stringify({ remote_addr: `10.0.0.${i}`, msec: '1767225600.000', request: `GET /${i} HTTP/1.1`, status: '200' });

/** Feeds lines until the detector has enough, then asks. */
function detect(lines: string[]): { format: LogFormat | null; after: number } {
  const d = createFormatDetector();
  let after = 0;
  for (const l of lines) {
    after++;
    if (d.add(l)) break;
  }
  return { format: d.decide(), after };
}

test('each format is told from its first lines; ten lines that parse are enough', () => {
  const n = Array.from({ length: 30 }, (_, i) => i + 1);
  assert.deepEqual(detect(n.map(combined)), { format: 'combined', after: 10 });
  assert.deepEqual(detect(n.map(common)), { format: 'common', after: 10 });
  assert.deepEqual(detect(n.map(json)), { format: 'nginx-json', after: 10 });
});

test('garbage and blank lines are no evidence; a combined line among common ones makes it combined', () => {
  assert.deepEqual(detect(['', 'garbage', '   ', common(1), combined(2), common(3)]), { format: 'combined', after: 6 });
  assert.deepEqual(detect(['{"not":"nginx"}', json(1), 'garbage']), { format: 'nginx-json', after: 3 });
  const d = createFormatDetector();
  assert.equal(d.add(''), false);
  assert.equal(d.add('hello'), false);
  assert.equal(d.decide(), null, 'nothing parsed: no guess');
});

test('a hundred lines in no format end the looking', () => {
  const r = detect(Array.from({ length: 150 }, (_, i) => `noise ${i}`));
  assert.deepEqual(r, { format: null, after: 100 });
});
