/**
 * The shared lists: the block list and the allowlist as every app instance reads them.
 * blocksync is the one writer (it mirrors the compacted Kafka topics into them); each
 * emitter's block mirror is a reader that loads a snapshot and then applies announced
 * changes. Two adapters pass one contract suite: Redis (distributed) and in-process
 * (embedded, where blocksync and the emitter share one process).
 */

export type ListName = 'blocks' | 'allow';

/** One entry as stored. */
export interface ListEntry {
  /** Canonical IP or CIDR text (see parseBlockTarget). */
  target: string;
  /** When the entry stops applying, ms since epoch; null: never. Kept apart from `record` so readers need not parse it. */
  expiresAt: number | null;
  /** The whole decision as JSON (BlockDecision or AllowEntry), for listings. */
  record: string;
}

export type ListChange =
  | { op: 'put'; list: ListName; entry: ListEntry }
  | { op: 'del'; list: ListName; target: string }
  /** The whole list was replaced (blocksync started again): readers scan it anew. */
  | { op: 'reset'; list: ListName };

export interface ListSubscriptionHandlers {
  onChange(change: ListChange): void;
  /**
   * The link to the store went down (false) or came back (true). Changes announced while
   * it was down are lost, so on `true` a reader scans the lists again.
   */
  onConnection(up: boolean): void;
}

export interface ListSubscription {
  close(): Promise<void>;
}

export interface SharedLists {
  readonly kind: 'redis' | 'memory';
  /** Writer: replaces a whole list at once (readers see the old or the new, never a mix) and announces 'reset'. */
  replace(list: ListName, entries: Iterable<ListEntry>): Promise<void>;
  /** Writer: sets one entry and announces it, in one atomic step. */
  put(list: ListName, entry: ListEntry): Promise<void>;
  /** Writer: removes one entry (if present) and announces it, in one atomic step. */
  remove(list: ListName, target: string): Promise<void>;
  /**
   * Whether the writer has written this list whole (replace) since the store started. False
   * on a fresh Redis, and on one that restarted empty or evicted the list: an empty list is
   * then not "nothing is blocked" but "nothing is known", and readers keep what they had.
   */
  written(list: ListName): Promise<boolean>;
  /** Reader: every entry of a list, handed over in batches; rejects if the store is unreachable. */
  scan(list: ListName, onBatch: (entries: ListEntry[]) => void): Promise<void>;
  /** Reader: announced changes, from the moment the returned promise resolves. */
  subscribe(handlers: ListSubscriptionHandlers): Promise<ListSubscription>;
  close(): Promise<void>;
}
