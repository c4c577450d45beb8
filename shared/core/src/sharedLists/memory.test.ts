import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { sharedListsContract, scanAll } from './contract.ts';
import { createMemorySharedLists } from './memory.ts';

sharedListsContract('memory', async () => createMemorySharedLists());

test('memory: a scan keeps the snapshot it started with while writes go on', async () => {
  const lists = createMemorySharedLists({ scanBatchSize: 10 });
  await lists.replace('blocks', Array.from({ length: 100 }, (_, i) => ({ target: `192.0.2.${i}`, expiresAt: null, record: '' })));
  let batches = 0;
  const scanned: string[] = [];
  const scanning = lists.scan('blocks', (batch) => {
    batches++;
    scanned.push(...batch.map((e) => e.target));
  });
  await lists.put('blocks', { target: '198.51.100.1', expiresAt: null, record: '' });
  await lists.remove('blocks', '192.0.2.99');
  await scanning;
  assert.equal(batches, 10);
  assert.equal(scanned.length, 100);
  assert.ok(scanned.includes('192.0.2.99') && !scanned.includes('198.51.100.1'));
  assert.equal((await scanAll(lists, 'blocks')).length, 100, 'the next scan sees both writes');
  await lists.close();
});

test('memory: a subscriber that throws does not break the writer or the other subscribers', async () => {
  const lists = createMemorySharedLists();
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    let heard = 0;
    await lists.subscribe({ onChange: () => { throw new Error('reader bug'); }, onConnection: () => {} });
    await lists.subscribe({ onChange: () => void heard++, onConnection: () => {} });
    await lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(heard, 1);
    assert.match(warnings.join('\n'), /subscriber threw on put blocks: reader bug/);
  } finally {
    process.off('warning', onWarning);
    await lists.close();
  }
});
