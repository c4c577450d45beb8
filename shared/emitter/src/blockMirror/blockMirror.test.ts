/**
 * The block mirror over the in-process shared lists. A thin wrapper around them (listsUnderTest)
 * holds a scan half way or plays a lost link, to check the loading protocol; the Redis
 * behaviour itself is checked against a real redis-server in blockMirror.redis.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import type { ListEntry, ListSubscriptionHandlers, SharedLists } from '@ipwatch/core/sharedLists';
import { createBlockMirror } from './blockMirror.ts';

const entry = (target: string, expiresAt: number | null = null): ListEntry => ({ target, expiresAt, record: JSON.stringify({ target }) });

/** Both lists written once, empty, as blocksync does at start: a store that was never written is "nothing known" to the mirror. */
async function written(lists: SharedLists): Promise<void> {
  await lists.replace('blocks', []);
  await lists.replace('allow', []);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface ListsUnderTest extends SharedLists {
  /** Scans read their snapshot at once, then wait for release() before handing it over. */
  holdScans(): void;
  release(): void;
  scansStarted: number;
  /** The link drops: onConnection(false), changes are lost, scan and subscribe reject. */
  drop(): void;
  /** The link is back: onConnection(true). */
  restore(): void;
  /** The store lost its lists (a Redis restart): written() is false until the next replace. */
  forget(): void;
  failSubscribes: number;
}

function listsUnderTest(inner: SharedLists): ListsUnderTest {
  let held: { promise: Promise<void>; resolve: () => void } | null = null;
  let down = false;
  let forgotten = false;
  const subscribers = new Set<ListSubscriptionHandlers>();
  const self: ListsUnderTest = {
    kind: 'memory',
    scansStarted: 0,
    failSubscribes: 0,
    replace: (list, entries) => {
      forgotten = false;
      return inner.replace(list, entries);
    },
    async written(list) {
      if (down) throw new Error('store unreachable (test)');
      return !forgotten && (await inner.written(list));
    },
    put: (list, e) => inner.put(list, e),
    remove: (list, target) => inner.remove(list, target),
    async scan(list, onBatch) {
      if (down) throw new Error('store unreachable (test)');
      self.scansStarted++;
      const batches: ListEntry[][] = [];
      await inner.scan(list, (b) => void batches.push(b));
      if (held) await held.promise;
      if (down) throw new Error('store unreachable (test)');
      for (const b of batches) onBatch(b);
    },
    async subscribe(handlers) {
      if (down || self.failSubscribes > 0) {
        self.failSubscribes = Math.max(0, self.failSubscribes - 1);
        throw new Error('cannot subscribe (test)');
      }
      subscribers.add(handlers);
      const sub = await inner.subscribe({ onChange: (c) => !down && handlers.onChange(c), onConnection: (up) => handlers.onConnection(up) });
      return {
        async close() {
          subscribers.delete(handlers);
          await sub.close();
        },
      };
    },
    close: () => inner.close(),
    holdScans() {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((r) => (resolve = r));
      held = { promise, resolve };
    },
    release() {
      held?.resolve();
      held = null;
    },
    drop() {
      down = true;
      for (const h of subscribers) h.onConnection(false);
    },
    restore() {
      down = false;
      for (const h of subscribers) h.onConnection(true);
    },
    forget() {
      forgotten = true;
    },
  };
  return self;
}

test('loads both lists, then answers: allowlist wins over any block, null for neither', async () => {
  const lists = createMemorySharedLists();
  await written(lists);
  await lists.replace('blocks', [entry('203.0.113.0/24'), entry('198.51.100.7'), entry('2001:db8::/32')]);
  await lists.replace('allow', [entry('203.0.113.10'), entry('2001:db8:1::/48')]);
  const mirror = createBlockMirror({ lists });
  await mirror.ready;
  assert.equal(mirror.check('203.0.113.5'), 'blocked');
  assert.equal(mirror.check('203.0.113.10'), 'allowed', 'the allowlist wins over a block');
  assert.equal(mirror.check('198.51.100.7'), 'blocked');
  assert.equal(mirror.check('::ffff:198.51.100.7'), 'blocked', 'mapped spelling');
  assert.equal(mirror.check('2001:db8:2::1'), 'blocked');
  assert.equal(mirror.check('2001:db8:1::1'), 'allowed');
  assert.equal(mirror.check('192.0.2.1'), null);
  assert.equal(mirror.check('not an ip'), null);
  assert.equal(mirror.isBlocked('198.51.100.7'), true);
  assert.equal(mirror.isBlocked('203.0.113.10'), false);
  const state = mirror.state();
  assert.deepEqual(
    { ...state, lastSyncAt: state.lastSyncAt > 0 },
    { connected: true, synced: true, stale: false, blocks: 3, allows: 2, lastSyncAt: true, syncs: 1, changesApplied: 0, resyncs: 0, invalid: 0 },
  );
  assert.equal(mirror.health().state, 'ok');
  await mirror.close();
  await lists.close();
});

test('announced changes apply live, expiry included, without a reload', async () => {
  let clock = 1_000_000;
  const lists = createMemorySharedLists();
  await written(lists);
  const mirror = createBlockMirror({ lists, now: () => clock });
  await mirror.ready;
  await lists.put('blocks', entry('192.0.2.1', clock + 1000));
  await lists.put('blocks', entry('10.0.0.0/8'));
  await waitFor(() => mirror.state().blocks === 2, 'two blocks');
  assert.equal(mirror.check('192.0.2.1'), 'blocked');
  clock += 1000;
  assert.equal(mirror.check('192.0.2.1'), null, 'expired exactly at expiresAt');
  await lists.put('allow', entry('10.1.2.3'));
  await lists.remove('blocks', '192.0.2.1');
  await waitFor(() => mirror.state().allows === 1 && mirror.state().blocks === 1, 'allow added, block removed');
  assert.equal(mirror.check('10.1.2.3'), 'allowed');
  assert.equal(mirror.check('10.1.2.4'), 'blocked');
  await lists.put('blocks', entry('10.0.0.0/8', clock - 1));
  await waitFor(() => mirror.state().blocks === 0, 'a put that is already expired removes the entry');
  assert.equal(mirror.check('10.1.2.4'), null);
  const s = mirror.state();
  assert.equal(s.changesApplied, 5);
  assert.equal(s.syncs, 1);
  await mirror.close();
  await lists.close();
});

test('changes announced during a load are applied to the new tables in order, then the tables swap', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('192.0.2.1'), entry('192.0.2.2')]);
  const lists = listsUnderTest(inner);
  lists.holdScans();
  const mirror = createBlockMirror({ lists });
  await waitFor(() => lists.scansStarted === 1, 'the block scan has read its snapshot');
  // After the snapshot: the scan does not see these, only the buffer has them.
  await lists.remove('blocks', '192.0.2.1');
  await lists.put('blocks', entry('192.0.2.3'));
  await lists.put('blocks', entry('192.0.2.4'));
  await lists.remove('blocks', '192.0.2.4');
  await lists.put('allow', entry('192.0.2.2'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(mirror.check('192.0.2.2'), null, 'nothing is served from a half-loaded table');
  lists.release();
  await mirror.ready;
  assert.equal(mirror.check('192.0.2.1'), null, 'removed during the load');
  assert.equal(mirror.check('192.0.2.2'), 'allowed', 'allowlisted during the load');
  assert.equal(mirror.check('192.0.2.3'), 'blocked', 'added during the load');
  assert.equal(mirror.check('192.0.2.4'), null, 'added then removed during the load');
  assert.equal(mirror.state().changesApplied, 5);
  await mirror.close();
});

test('a reset loads again while the old tables keep serving, then swaps', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('192.0.2.1')]);
  const lists = listsUnderTest(inner);
  const mirror = createBlockMirror({ lists });
  await mirror.ready;
  const scansBefore = lists.scansStarted;
  lists.holdScans();
  await lists.replace('blocks', [entry('198.51.100.0/24')]);
  await waitFor(() => lists.scansStarted > scansBefore, 'a second load');
  assert.equal(mirror.check('192.0.2.1'), 'blocked', 'the old table serves during the load');
  assert.equal(mirror.check('198.51.100.9'), null);
  lists.release();
  await waitFor(() => mirror.state().syncs === 2, 'the reload');
  assert.equal(mirror.check('192.0.2.1'), null);
  assert.equal(mirror.check('198.51.100.9'), 'blocked');
  assert.equal(mirror.state().resyncs, 1);
  await mirror.close();
});

test('a reset during a load makes it start over instead of swapping in a mixed view', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('192.0.2.1')]);
  const lists = listsUnderTest(inner);
  lists.holdScans();
  const mirror = createBlockMirror({ lists });
  await waitFor(() => lists.scansStarted === 1, 'the first scan');
  await lists.replace('blocks', [entry('192.0.2.2')]);
  await new Promise((r) => setTimeout(r, 5));
  lists.release(); // the first load finishes, sees the reset, and loads again (not held now)
  await mirror.ready;
  assert.equal(mirror.check('192.0.2.1'), null);
  assert.equal(mirror.check('192.0.2.2'), 'blocked');
  assert.equal(mirror.state().syncs, 1, 'only the complete load was swapped in');
  await mirror.close();
});

test('store unreachable at start: degraded, retries in the background, loads when it comes', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('192.0.2.1')]);
  const lists = listsUnderTest(inner);
  lists.failSubscribes = 3;
  const warnings: string[] = [];
  const mirror = createBlockMirror({ lists, retryMs: 5, maxRetryMs: 20, onWarn: (m) => void warnings.push(m) });
  let ready = false;
  void mirror.ready.then(() => (ready = true));
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(ready, false);
  assert.equal(mirror.check('192.0.2.1'), null, 'nothing blocked before the first load');
  const h = mirror.health();
  assert.equal(h.state, 'degraded');
  assert.match(h.detail ?? '', /no lists loaded yet.*nothing is blocked/);
  await mirror.ready;
  assert.equal(mirror.check('192.0.2.1'), 'blocked');
  assert.equal(mirror.health().state, 'ok');
  assert.equal(warnings.length, 2, `one warning for the outage, one for the recovery: ${warnings.join(' | ')}`);
  assert.match(warnings[0]!, /cannot subscribe/);
  assert.match(warnings[1]!, /back in sync/);
  await mirror.close();
});

test('link lost: keeps enforcing the last state and says it is stale; link back: loads again and catches up', async () => {
  let clock = 5_000_000;
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('192.0.2.1'), entry('192.0.2.2')]);
  const lists = listsUnderTest(inner);
  const mirror = createBlockMirror({ lists, now: () => clock, retryMs: 5, onWarn: () => {} });
  await mirror.ready;
  lists.drop();
  clock += 90_000;
  // Changes made while the link is down never reach the mirror as announcements.
  await inner.remove('blocks', '192.0.2.1');
  await inner.put('blocks', entry('192.0.2.3'));
  assert.equal(mirror.check('192.0.2.1'), 'blocked', 'the last known state is enforced');
  assert.equal(mirror.check('192.0.2.3'), null);
  const s = mirror.state();
  assert.equal(s.connected, false);
  assert.equal(s.synced, false);
  assert.equal(s.stale, true);
  const h = mirror.health();
  assert.equal(h.state, 'degraded');
  assert.match(h.detail ?? '', /serving 2 blocks from 90 s ago, store unreachable/);
  lists.restore();
  await waitFor(() => mirror.state().syncs === 2, 'the reload after the link came back');
  assert.equal(mirror.check('192.0.2.1'), null);
  assert.equal(mirror.check('192.0.2.3'), 'blocked');
  assert.deepEqual([mirror.state().stale, mirror.state().synced, mirror.health().state], [false, true, 'ok']);
  await mirror.close();
});

test('entries whose target is not an IP or CIDR are skipped, counted and reported once per load', async () => {
  const lists = createMemorySharedLists();
  await written(lists);
  await lists.replace('blocks', [entry('192.0.2.1'), entry('not-an-ip'), entry('10.0.0.1/8'), entry('2001:db8::/32')]);
  const warnings: string[] = [];
  const mirror = createBlockMirror({ lists, onWarn: (m) => void warnings.push(m) });
  await mirror.ready;
  assert.equal(mirror.state().blocks, 2);
  assert.equal(mirror.state().invalid, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /skipped 2 list entries.*"not-an-ip"/);
  await lists.put('blocks', entry('999.1.1.1'));
  await waitFor(() => mirror.state().invalid === 3, 'the live one counted');
  assert.match(warnings[1] ?? '', /ignored a put on the block list/);
  await mirror.close();
});

test('close: health says so, ready resolves even if nothing ever loaded, no more changes are followed', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  const lists = listsUnderTest(inner);
  lists.failSubscribes = 1_000_000;
  const neverLoaded = createBlockMirror({ lists, retryMs: 5, onWarn: () => {} });
  await new Promise((r) => setTimeout(r, 20));
  await neverLoaded.close();
  await neverLoaded.ready;
  assert.equal(neverLoaded.health().state, 'error');

  const mirror = createBlockMirror({ lists: inner });
  await mirror.ready;
  await mirror.close();
  await inner.put('blocks', entry('192.0.2.1'));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(mirror.check('192.0.2.1'), null);
  assert.equal(mirror.state().changesApplied, 0);
});

test('a store that comes back without its lists (Redis restarted) does not wipe the mirror until blocksync has written them again', async () => {
  const inner = createMemorySharedLists();
  await written(inner);
  await inner.replace('blocks', [entry('203.0.113.0/24')]);
  await inner.replace('allow', []);
  const lists = listsUnderTest(inner);
  const mirror = createBlockMirror({ lists, retryMs: 5, maxRetryMs: 10 });
  await mirror.ready;
  assert.equal(mirror.check('203.0.113.9'), 'blocked');
  lists.drop();
  lists.forget(); // the restart lost everything
  lists.restore();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(mirror.check('203.0.113.9'), 'blocked', 'the last list is kept');
  assert.equal(mirror.state().stale, true);
  assert.equal(mirror.health().state, 'degraded');
  // blocksync writes the lists again (here: everything was unblocked meanwhile)
  await lists.replace('blocks', []);
  await lists.replace('allow', []);
  await waitFor(() => mirror.check('203.0.113.9') === null, 'the rewritten (empty) list to apply');
  await waitFor(() => !mirror.state().stale, 'in sync again');
  await mirror.close();
});
