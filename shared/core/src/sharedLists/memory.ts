/**
 * The in-process shared lists, for the embedded mode where blocksync and the emitter share
 * one process. Passes the same contract suite as the Redis adapter (contract.ts).
 *
 * Changes are announced on a microtask after the write, in write order: the writer's await
 * never runs a reader's handler inside it, and a reader sees each change very soon after.
 * The connection never drops, so onConnection is never called.
 *
 * @example
 * const lists = createMemorySharedLists();
 * await lists.put('blocks', { target: '203.0.113.7', expiresAt: null, record: '{}' });
 */
import type { ListChange, ListEntry, ListName, ListSubscription, ListSubscriptionHandlers, SharedLists } from '../sharedLists.ts';
import { assertEntry, assertListName, assertTarget, closedError } from './entry.ts';

export interface MemorySharedListsOptions {
  /** Entries handed to one scan batch. Default 10,000 (the Redis adapter's HSCAN COUNT). */
  scanBatchSize?: number;
}

export function createMemorySharedLists(options: MemorySharedListsOptions = {}): SharedLists {
  const batchSize = options.scanBatchSize ?? 10_000;
  const lists = new Map<ListName, Map<string, ListEntry>>([
    ['blocks', new Map()],
    ['allow', new Map()],
  ]);
  const subscribers = new Set<ListSubscriptionHandlers>();
  let closed = false;

  const listOf = (list: ListName): Map<string, ListEntry> => {
    assertListName(list);
    return lists.get(list)!;
  };
  const ensureOpen = (): void => {
    if (closed) throw closedError('in-process');
  };

  const announce = (change: ListChange): void => {
    for (const handlers of subscribers) {
      // Microtasks run in the order queued, so every subscriber sees the writes in order.
      queueMicrotask(() => {
        if (!subscribers.has(handlers)) return;
        try {
          handlers.onChange(change);
        } catch (err) {
          // A reader's bug must not break the writer; say so instead of losing it.
          process.emitWarning(`a shared-lists subscriber threw on ${change.op} ${change.list}: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    }
  };

  const written = new Set<ListName>();
  // Copies, so a caller that mutates its object later cannot change what is stored.
  const copy = (e: ListEntry): ListEntry => ({ target: e.target, expiresAt: e.expiresAt, record: e.record });

  return {
    kind: 'memory',

    async replace(list, entries) {
      ensureOpen();
      listOf(list);
      const next = new Map<string, ListEntry>();
      for (const entry of entries) {
        assertEntry(entry);
        next.set(entry.target, copy(entry));
      }
      // One assignment: a scan in progress keeps the snapshot it took, a new one sees `next`.
      lists.set(list, next);
      written.add(list);
      announce({ op: 'reset', list });
    },

    async written(list) {
      ensureOpen();
      listOf(list);
      return written.has(list);
    },

    async put(list, entry) {
      ensureOpen();
      assertEntry(entry);
      const stored = copy(entry);
      listOf(list).set(stored.target, stored);
      announce({ op: 'put', list, entry: stored });
    },

    async remove(list, target) {
      ensureOpen();
      assertTarget(target);
      listOf(list).delete(target);
      announce({ op: 'del', list, target });
    },

    async scan(list, onBatch) {
      ensureOpen();
      // A snapshot taken at once: later writes are the subscriber's to see, not the scan's.
      const snapshot = [...listOf(list).values()];
      for (let i = 0; i < snapshot.length; i += batchSize) {
        onBatch(snapshot.slice(i, i + batchSize));
        // Let the process serve requests between batches of a large list.
        if (i + batchSize < snapshot.length) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },

    async subscribe(handlers): Promise<ListSubscription> {
      ensureOpen();
      // Wrapped, so one handlers object subscribed twice is two subscriptions.
      const own: ListSubscriptionHandlers = { onChange: (c) => handlers.onChange(c), onConnection: (up) => handlers.onConnection(up) };
      subscribers.add(own);
      return {
        async close() {
          subscribers.delete(own);
        },
      };
    },

    async close() {
      closed = true;
      subscribers.clear();
    },
  };
}
