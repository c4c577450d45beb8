/**
 * The contract every SharedLists adapter passes (ARCHITECTURE.md: "each adapter passes the
 * same contract tests"). Run it from a test file beside the adapter:
 *
 * @example
 * sharedListsContract('memory', async () => createMemorySharedLists());
 *
 * `make` is called once per test and must return fresh, empty lists (the test closes them).
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import type { ListChange, ListEntry, ListName, SharedLists } from '../sharedLists.ts';

const TEST_TIMEOUT_MS = 30_000;

export function sharedListsContract(name: string, make: () => Promise<SharedLists>): void {
  const withLists = async (fn: (lists: SharedLists) => Promise<void>): Promise<void> => {
    const lists = await make();
    try {
      await fn(lists);
    } finally {
      await lists.close();
    }
  };

  describe(`SharedLists contract: ${name}`, () => {
    test('a put entry is scanned back as written, expiry and record intact', () =>
      withLists(async (lists) => {
        const record = JSON.stringify({ reason: 'path scan | 404 burst', note: 'naïve ✓', nested: { a: [1, 2] } });
        await lists.put('blocks', { target: '203.0.113.7', expiresAt: 1_900_000_000_123, record });
        await lists.put('blocks', { target: '2001:db8:1::/48', expiresAt: null, record: '{}' });
        await lists.put('blocks', { target: '10.0.0.0/8', expiresAt: 0, record: '' });
        assert.deepEqual(sortEntries(await scanAll(lists, 'blocks')), [
          { target: '10.0.0.0/8', expiresAt: 0, record: '' },
          { target: '2001:db8:1::/48', expiresAt: null, record: '{}' },
          { target: '203.0.113.7', expiresAt: 1_900_000_000_123, record },
        ]);
      }), TEST_TIMEOUT_MS,
    );

    test('put overwrites, remove deletes, removing what is absent is no error', () =>
      withLists(async (lists) => {
        await lists.put('blocks', { target: '198.51.100.1', expiresAt: null, record: 'v1' });
        await lists.put('blocks', { target: '198.51.100.1', expiresAt: 5, record: 'v2' });
        await lists.put('blocks', { target: '198.51.100.2', expiresAt: null, record: 'x' });
        await lists.remove('blocks', '198.51.100.2');
        await lists.remove('blocks', '198.51.100.99');
        assert.deepEqual(await scanAll(lists, 'blocks'), [{ target: '198.51.100.1', expiresAt: 5, record: 'v2' }]);
      }), TEST_TIMEOUT_MS,
    );

    test('the two lists are apart', () =>
      withLists(async (lists) => {
        await lists.put('allow', { target: '192.0.2.10', expiresAt: null, record: 'a' });
        await lists.put('blocks', { target: '192.0.2.11', expiresAt: null, record: 'b' });
        assert.deepEqual(targets(await scanAll(lists, 'allow')), ['192.0.2.10']);
        assert.deepEqual(targets(await scanAll(lists, 'blocks')), ['192.0.2.11']);
        await lists.replace('allow', []);
        assert.deepEqual(targets(await scanAll(lists, 'blocks')), ['192.0.2.11'], 'replacing one list leaves the other');
      }), TEST_TIMEOUT_MS,
    );

    test('an empty list scans as nothing, in no batch or empty batches only', () =>
      withLists(async (lists) => {
        assert.deepEqual(await scanAll(lists, 'blocks'), []);
      }), TEST_TIMEOUT_MS,
    );

    test('a subscriber sees put, del and reset in the order written, with the whole entry', () =>
      withLists(async (lists) => {
        const seen: ListChange[] = [];
        const sub = await lists.subscribe({ onChange: (c) => seen.push(c), onConnection: () => {} });
        try {
          await lists.put('blocks', { target: '203.0.113.9', expiresAt: 123, record: '{"why":"a|b"}' });
          await lists.put('allow', { target: '10.1.0.0/16', expiresAt: null, record: '{}' });
          await lists.remove('blocks', '203.0.113.9');
          await lists.replace('allow', [{ target: '10.2.0.0/16', expiresAt: null, record: '{}' }]);
          for (let i = 0; i < 50; i++) await lists.put('blocks', { target: `198.51.100.${i}`, expiresAt: null, record: String(i) });
          await waitFor(() => seen.length >= 54, '54 changes', () => `${seen.length} seen`);
          assert.deepEqual(seen.slice(0, 4), [
            { op: 'put', list: 'blocks', entry: { target: '203.0.113.9', expiresAt: 123, record: '{"why":"a|b"}' } },
            { op: 'put', list: 'allow', entry: { target: '10.1.0.0/16', expiresAt: null, record: '{}' } },
            { op: 'del', list: 'blocks', target: '203.0.113.9' },
            { op: 'reset', list: 'allow' },
          ]);
          assert.deepEqual(
            seen.slice(4).map((c) => (c.op === 'put' ? c.entry.record : c.op)),
            Array.from({ length: 50 }, (_, i) => String(i)),
            'in order',
          );
        } finally {
          await sub.close();
        }
      }), TEST_TIMEOUT_MS,
    );

    test('an announced change is already stored (a reader never hears of one it cannot scan)', () =>
      withLists(async (lists) => {
        const checks: Array<Promise<boolean>> = [];
        const sub = await lists.subscribe({
          onChange: (c) => {
            if (c.op === 'put') checks.push(scanAll(lists, 'blocks').then((all) => all.some((e) => e.target === c.entry.target)));
          },
          onConnection: () => {},
        });
        try {
          for (let i = 0; i < 20; i++) await lists.put('blocks', { target: `192.0.2.${i}`, expiresAt: null, record: '' });
          await waitFor(() => checks.length >= 20, '20 announcements');
          assert.deepEqual(await Promise.all(checks), Array.from({ length: 20 }, () => true));
        } finally {
          await sub.close();
        }
      }), TEST_TIMEOUT_MS,
    );

    test('a closed subscription hears nothing more', () =>
      withLists(async (lists) => {
        const a: ListChange[] = [];
        const b: ListChange[] = [];
        const subA = await lists.subscribe({ onChange: (c) => a.push(c), onConnection: () => {} });
        const subB = await lists.subscribe({ onChange: (c) => b.push(c), onConnection: () => {} });
        await lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' });
        await waitFor(() => a.length === 1 && b.length === 1, 'both subscribers hear the first put');
        await subA.close();
        await lists.put('blocks', { target: '192.0.2.2', expiresAt: null, record: '' });
        await waitFor(() => b.length === 2, 'the open subscriber hears the second put');
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(a.length, 1);
        await subB.close();
      }), TEST_TIMEOUT_MS,
    );

    test('replace swaps the whole list at once: old entries gone, duplicates keep the last, a reset is announced', () =>
      withLists(async (lists) => {
        await lists.put('blocks', { target: '192.0.2.200', expiresAt: null, record: 'old' });
        const resets: ListName[] = [];
        const sub = await lists.subscribe({ onChange: (c) => c.op === 'reset' && resets.push(c.list), onConnection: () => {} });
        try {
          const n = 25_000;
          // A generator: replace must take any iterable, read once.
          function* entries(): Generator<ListEntry> {
            for (let i = 0; i < n; i++) yield { target: v4(i), expiresAt: i % 3 === 0 ? 1_800_000_000_000 + i : null, record: `{"i":${i}}` };
            yield { target: v4(7), expiresAt: null, record: 'last wins' };
          }
          await lists.replace('blocks', entries());
          let batches = 0;
          const all = await scanAll(lists, 'blocks', () => batches++);
          assert.equal(all.length, n);
          assert.equal(new Set(targets(all)).size, n, 'no entry twice');
          assert.ok(batches >= 2, `a large list comes in several batches (${batches})`);
          assert.ok(!all.some((e) => e.target === '192.0.2.200'), 'the old entry is gone');
          assert.equal(all.find((e) => e.target === v4(7))?.record, 'last wins');
          assert.equal(all.find((e) => e.target === v4(3))?.expiresAt, 1_800_000_000_003);
          await lists.replace('blocks', []);
          assert.deepEqual(await scanAll(lists, 'blocks'), [], 'replaced by nothing is empty');
          await waitFor(() => resets.length >= 2, 'two resets');
          assert.deepEqual(resets, ['blocks', 'blocks']);
        } finally {
          await sub.close();
        }
      }), TEST_TIMEOUT_MS,
    );

    // What a reader relies on: a scan that fits one batch sees one generation; a longer
    // scan may straddle the swap, which is why a reset is announced after it: the reader
    // scans again and then sees only the new list.
    test('during replace a one-batch scan sees the old list or the new one, and a reset follows the swap', () =>
      withLists(async (lists) => {
        const old = Array.from({ length: 3000 }, (_, i) => ({ target: v4(i), expiresAt: null, record: 'old' }));
        await lists.replace('blocks', old);
        let resets = 0;
        const sub = await lists.subscribe({ onChange: (c) => void (c.op === 'reset' && resets++), onConnection: () => {} });
        try {
          const fresh = Array.from({ length: 3000 }, (_, i) => ({ target: v4(i + 100_000), expiresAt: null, record: 'new' }));
          let done = false;
          const replacing = lists.replace('blocks', fresh).finally(() => (done = true));
          const scans: ListEntry[][] = [];
          while (!done && scans.length < 200) scans.push(await scanAll(lists, 'blocks'));
          await replacing;
          await waitFor(() => resets === 1, 'the reset after the swap');
          const after = await scanAll(lists, 'blocks');
          assert.deepEqual(new Set(after.map((e) => e.record)), new Set(['new']));
          assert.equal(after.length, 3000);
          for (const s of scans) {
            const kinds = new Set(s.map((e) => e.record));
            assert.equal(kinds.size, 1, `one generation per scan, got ${[...kinds].join(', ')}`);
            assert.equal(s.length, 3000);
          }
        } finally {
          await sub.close();
        }
      }), TEST_TIMEOUT_MS,
    );

    test('bad entries are refused before anything is written', () =>
      withLists(async (lists) => {
        await assert.rejects(lists.put('blocks', { target: '', expiresAt: null, record: '' }), /not a list target/);
        await assert.rejects(lists.put('blocks', { target: '1.2.3.4|x', expiresAt: null, record: '' }), /not a list target/);
        await assert.rejects(lists.put('blocks', { target: '1.2.3.4', expiresAt: Number.NaN, record: '' }), /expiresAt/);
        await assert.rejects(lists.remove('blocks', 'a\nb'), /not a list target/);
        await assert.rejects(lists.put('nope' as ListName, { target: '1.2.3.4', expiresAt: null, record: '' }), /unknown list/);
        await lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: 'kept' });
        await assert.rejects(
          lists.replace('blocks', [
            { target: '192.0.2.2', expiresAt: null, record: '' },
            { target: 'x|y', expiresAt: null, record: '' },
          ]),
          /not a list target/,
        );
        assert.deepEqual(targets(await scanAll(lists, 'blocks')), ['192.0.2.1'], 'a failed replace leaves the list as it was');
      }), TEST_TIMEOUT_MS,
    );

    test('after close, every operation rejects with a clear message', async () => {
      const lists = await make();
      await lists.close();
      await assert.rejects(lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' }), /closed/);
      await assert.rejects(lists.scan('blocks', () => {}), /closed/);
      await assert.rejects(lists.subscribe({ onChange: () => {}, onConnection: () => {} }), /closed/);
      await lists.close(); // twice is fine
    }, TEST_TIMEOUT_MS);
  });
}

export async function scanAll(lists: SharedLists, list: ListName, onBatch?: (size: number) => void): Promise<ListEntry[]> {
  const all: ListEntry[] = [];
  await lists.scan(list, (batch) => {
    onBatch?.(batch.length);
    all.push(...batch);
  });
  return all;
}

/** A distinct IPv4 address per i. */
function v4(i: number): string {
  return `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

function targets(entries: ListEntry[]): string[] {
  return entries.map((e) => e.target).sort();
}

function sortEntries(entries: ListEntry[]): ListEntry[] {
  return [...entries].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

export async function waitFor(cond: () => boolean, what: string, state?: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state ? ` (${state()})` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
