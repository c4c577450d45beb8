/**
 * The README's cookbook stays the cookbook the tests check (shared/store/src/sql/cookbook.ts):
 * the block between its markers equals what `npm run docs:cookbook` renders, byte for byte,
 * and every entry is in it with its SQL.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COOKBOOK } from '../shared/store/src/sql/cookbook.ts';
import { README_PATH, cookbookBlock, renderCookbook } from '../scripts/cookbook-doc.ts';

test('the README\'s cookbook is the one generated from the cookbook', () => {
  const block = cookbookBlock(readFileSync(README_PATH, 'utf8'));
  assert.ok(block !== null, 'README.md has one <!-- cookbook:start --> and, after it, <!-- cookbook:end -->');
  assert.ok(block === renderCookbook(), 'README\'s cookbook is out of date: run npm run docs:cookbook');
});

test('each entry is rendered as a heading, its question and its SQL', () => {
  const block = renderCookbook();
  for (const e of COOKBOOK) {
    assert.ok(block.includes(`### ${e.title}\n\n${e.question}\n`), e.id);
    assert.ok(block.includes(`\`\`\`sql\n${e.sql.trim()}\n\`\`\``), e.id);
  }
  assert.equal(block.match(/^### /gm)?.length, COOKBOOK.length);
  assert.equal(cookbookBlock(`a\n${block}\nb`), block);
  assert.equal(cookbookBlock('no markers'), null);
  assert.equal(cookbookBlock(`<!-- cookbook:end -->\n<!-- cookbook:start -->`), null, 'markers out of order');
});
