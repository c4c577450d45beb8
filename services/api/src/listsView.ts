/**
 * The api's own view of the block list and the allowlist: it reads both compacted topics,
 * like blocksync does, so that listings show the source of truth (Kafka, or the embedded
 * log) whatever state Redis is in, and so that a change can be confirmed once it is there.
 */
import type { EventLog, CompactedReader } from '@ipwatch/core/eventLog';
import { decodeListRecord, LIST_TOPICS, type ListRecord } from '@ipwatch/core/decisions';
import type { ListName } from '@ipwatch/core/sharedLists';
import { decodeStep } from '@ipwatch/core/pipelineStep';

export interface ListsView {
  /** Resolves once both topics were read to their end. */
  readonly ready: Promise<void>;
  get(list: ListName, target: string): ListRecord | undefined;
  all(list: ListName): ListRecord[];
  /** Resolves true once `test` holds for the target's record (checked on every change), false after `timeoutMs`. */
  waitFor(list: ListName, target: string, test: (r: ListRecord | undefined) => boolean, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function openListsView(log: EventLog, warn: (message: string, err?: unknown) => void): Promise<ListsView> {
  const tables: Record<ListName, Map<string, ListRecord>> = { blocks: new Map(), allow: new Map() };
  const waiters = new Set<{ list: ListName; target: string; check: () => void }>();
  const readers: CompactedReader[] = [];
  for (const list of ['blocks', 'allow'] as const) {
    readers.push(
      await log.readCompacted(LIST_TOPICS[list], {
        onMessage: (m) => {
          const u = decodeStep('decode', () => decodeListRecord(list, m));
          if (u.kind !== 'ok') {
            // blocksync sends such records to the DLQ; here they are only skipped.
            warn(`api: skipping a record of ${m.topic} that cannot be read`, u.kind === 'dlq' ? u.error : undefined);
            return;
          }
          const { target, record } = u.value;
          if (record === null) tables[list].delete(target);
          else tables[list].set(target, record);
          for (const w of waiters) if (w.list === list && w.target === target) w.check();
        },
      }),
    );
  }
  return {
    ready: Promise.all(readers.map((r) => r.ready)).then(() => undefined),
    get: (list, target) => tables[list].get(target),
    all: (list) => [...tables[list].values()],
    waitFor(list, target, test, timeoutMs) {
      if (test(tables[list].get(target))) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = {
          list,
          target,
          check: () => {
            if (!test(tables[list].get(target))) return;
            clearTimeout(timer);
            waiters.delete(w);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          resolve(false);
        }, timeoutMs);
        waiters.add(w);
      });
    },
    async stop() {
      await Promise.all(readers.map((r) => r.stop()));
    },
  };
}
