/**
 * blocksync: the one writer of the shared lists. It reads each list's compacted topic
 * (blocks, allowlist) from the beginning, and once it has reached the end it writes the
 * whole list at once (readers switch from the old list to the new in one step) and
 * reports ready. From then on it tails the topics and applies each change as it comes,
 * announced to every app instance by the shared lists (Redis pub/sub).
 *
 * If the store (Redis) is unreachable, changes keep being read into the table here; when a
 * write fails the list is marked dirty and rewritten whole once the store answers again, so
 * nothing decided while Redis was down is lost.
 */
import type { EventLog, CompactedReader, LogMessage } from '@ipwatch/core/eventLog';
import { applyStep, decodeStep } from '@ipwatch/core/pipelineStep';
import { decodeListRecord, LIST_TOPICS, type ListUpdate } from '@ipwatch/core/decisions';
import type { ListEntry, ListName, SharedLists } from '@ipwatch/core/sharedLists';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { CheckResult } from '@ipwatch/core/observability/health';

export interface BlocksyncOptions {
  log: EventLog;
  lists: SharedLists;
  metrics: IpwatchMetrics;
  warn(message: string, err?: unknown): void;
  /** Wait before retrying a failed write to the store; doubles up to 5 s. Default 100 ms. */
  retryMs?: number;
  /** How often blocksync checks that the lists are still in the store (a restarted Redis loses them). Default 5 s. */
  checkMs?: number;
  /**
   * How often expired entries are removed from the store. Readers stop applying an entry at
   * its expiry on their own; this only frees their memory. Default 60 s.
   */
  sweepMs?: number;
  now?: () => number;
}

export interface ListSyncState {
  /** Entries in the topic (expired ones included). */
  entries: number;
  /** The topic has been read to its end and written whole to the store at least once. */
  synced: boolean;
  /** A write failed: the list will be rewritten whole when the store answers. */
  dirty: boolean;
  lastWriteAt: number;
}

export interface Blocksync {
  /** Resolves once both lists were read to their end and written to the store. */
  readonly ready: Promise<void>;
  state(): Record<ListName, ListSyncState>;
  health(): CheckResult;
  stop(): Promise<void>;
}

const LISTS: ListName[] = ['blocks', 'allow'];

/** What the store needs of an update. */
type StoreWrite = Pick<ListUpdate, 'target' | 'entry'>;

class ListSync {
  readonly table = new Map<string, ListEntry>();
  caughtUp = false;
  synced = false;
  dirty = true;
  lastWriteAt = 0;
  lastError: unknown = null;
  /** Writes waiting for the store, in order: an entry to put, or null to remove the target. */
  private queue: StoreWrite[] = [];
  private pumping = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoff: number;
  private stopped = false;
  private resolveSynced!: () => void;
  readonly firstSync = new Promise<void>((r) => (this.resolveSynced = r));

  constructor(
    readonly list: ListName,
    private readonly opts: Required<Pick<BlocksyncOptions, 'lists' | 'warn' | 'retryMs' | 'now'>> & { applied: (list: ListName, op: string) => void },
  ) {
    this.backoff = opts.retryMs;
  }

  /** Expired entries already removed from the store (they stay in the table: the topic still holds them). */
  private readonly swept = new Set<string>();

  /** Removes from the store what has expired since the last sweep. */
  sweep(now: number): number {
    if (!this.synced) return 0;
    let n = 0;
    for (const [target, e] of this.table) {
      if (e.expiresAt !== null && e.expiresAt <= now && !this.swept.has(target)) {
        this.swept.add(target);
        this.queue.push({ target, entry: null });
        n++;
      }
    }
    if (n) void this.pump();
    return n;
  }

  apply(update: StoreWrite): void {
    this.swept.delete(update.target);
    if (update.entry === null) this.table.delete(update.target);
    else this.table.set(update.target, update.entry);
    if (!this.caughtUp) return;
    this.queue.push(update);
    void this.pump();
  }

  /** The store may have lost everything (a Redis restart): write the whole list again. */
  rewrite(): void {
    if (!this.caughtUp) return;
    this.dirty = true;
    void this.pump();
  }

  reachedEnd(): void {
    this.caughtUp = true;
    this.dirty = true;
    void this.pump();
  }

  /** Writes what is pending, one step at a time, in order; a failure turns into a full rewrite later. */
  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (!this.stopped && (this.dirty || this.queue.length > 0)) {
        const now = this.opts.now();
        if (this.dirty) {
          // Everything in the table, so what was queued is included: drop the queue first.
          this.queue = [];
          this.dirty = false;
          const live = [...this.table.values()].filter((e) => e.expiresAt === null || e.expiresAt > now);
          await this.opts.lists.replace(this.list, live);
          this.opts.applied(this.list, 'replace');
          if (!this.synced) {
            this.synced = true;
            this.resolveSynced();
          }
        } else {
          const u = this.queue.shift() as StoreWrite;
          // An entry that is already over needs no announcing: remove it instead.
          if (u.entry === null || (u.entry.expiresAt !== null && u.entry.expiresAt <= now)) await this.opts.lists.remove(this.list, u.target);
          else await this.opts.lists.put(this.list, u.entry);
          this.opts.applied(this.list, u.entry === null ? 'remove' : 'put');
        }
        this.lastWriteAt = this.opts.now();
        this.lastError = null;
        this.backoff = this.opts.retryMs;
      }
    } catch (err) {
      this.lastError = err;
      this.dirty = true;
      this.opts.warn(`blocksync: writing the ${this.list} list to the store failed; it will be rewritten whole when the store answers`, err);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.pump();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    } finally {
      this.pumping = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}

/**
 * @example
 * const sync = createBlocksync({ log, lists: createRedisSharedLists(url), metrics, warn });
 * await sync.ready; // every block in Kafka is now in Redis
 */
export function createBlocksync(options: BlocksyncOptions): Blocksync {
  const { log, lists, metrics, warn } = options;
  const now = options.now ?? Date.now;
  const changes = metrics.counter<'list' | 'op'>({
    name: 'ipwatch_blocksync_writes_total',
    help: 'Writes to the shared lists (replace: the whole list; put, remove: one entry). Unit: writes.',
    labelNames: ['list', 'op'],
  });
  const entriesGauge = metrics.gauge<'list'>({ name: 'ipwatch_blocksync_entries', help: 'Entries in each list topic, expired ones included. Unit: entries.', labelNames: ['list'] });
  const dirtyGauge = metrics.gauge<'list'>({ name: 'ipwatch_blocksync_dirty', help: '1 while a list waits to be rewritten because the store was unreachable. Unit: boolean.', labelNames: ['list'] });

  const syncs = new Map<ListName, ListSync>();
  for (const list of LISTS) {
    syncs.set(list, new ListSync(list, { lists, warn, retryMs: options.retryMs ?? 100, now, applied: (l, op) => changes.inc({ list: l, op }) }));
  }
  const readers: CompactedReader[] = [];
  let stopped = false;

  function onMessage(list: ListName, m: LogMessage): void {
    const sync = syncs.get(list) as ListSync;
    const update = decodeStep('decode', () => decodeListRecord(list, m));
    if (update.kind !== 'ok') {
      warn(`blocksync: a record of ${m.topic} cannot be applied and goes to the DLQ`, update.kind === 'dlq' ? update.error : undefined);
      // The reader hands records over one by one, synchronously: the DLQ write goes on in the background.
      applyStep(update, m, { log, metrics }).catch((e: unknown) => warn('blocksync: could not write to the DLQ', e));
      return;
    }
    metrics.eventsIn.inc({ topic: m.topic });
    sync.apply(update.value);
    entriesGauge.set({ list }, sync.table.size);
  }

  // A Redis that comes back may have come back empty (it keeps nothing on disk here), and
  // one under memory pressure may evict the lists: both are noticed two ways, by the
  // subscription's reconnect and by checking every few seconds that each list is still
  // marked written; either way the list is written whole again.
  let subscription: { close(): Promise<void> } | null = null;
  let linkDown = false;
  let subscribeTimer: NodeJS.Timeout | null = null;
  const rewriteAll = (why: string) => {
    warn(`blocksync: ${why}; writing the lists whole again`);
    for (const s of syncs.values()) s.rewrite();
  };
  const subscribe = (delayMs: number): Promise<void> =>
    lists
      .subscribe({
        onChange: () => {},
        onConnection: (up) => {
          if (!up) {
            linkDown = true;
            return;
          }
          if (!linkDown) return;
          linkDown = false;
          rewriteAll('the store is back');
        },
      })
      .then((sub) => {
        if (stopped) return void sub.close();
        subscription = sub;
      })
      .catch((err) => {
        warn('blocksync: cannot follow the store connection yet; retrying', err);
        if (!stopped) subscribeTimer = setTimeout(() => void subscribe(Math.min(delayMs * 2, 5000)), delayMs);
      });
  const subscribing = subscribe(options.retryMs ?? 100);
  const checkTimer = setInterval(() => {
    for (const s of syncs.values()) {
      if (!s.synced || s.dirty) continue;
      lists.written(s.list).then(
        (ok) => {
          if (!ok && !s.dirty) {
            warn(`blocksync: the ${s.list} list is missing from the store (restarted or evicted); writing it whole again`);
            s.rewrite();
          }
        },
        () => {}, // unreachable: the next write fails and marks the list dirty
      );
    }
  }, options.checkMs ?? 5000);
  checkTimer.unref();

  const ready = (async () => {
    await subscribing;
    for (const list of LISTS) {
      const reader = await log.readCompacted(LIST_TOPICS[list], { onMessage: (m) => onMessage(list, m) });
      readers.push(reader);
      void reader.ready.then(() => {
        if (!stopped) (syncs.get(list) as ListSync).reachedEnd();
      });
    }
    await Promise.all([...syncs.values()].map((s) => s.firstSync));
  })();
  ready.catch(() => undefined);

  const dirtyTimer = setInterval(() => {
    for (const [list, s] of syncs) dirtyGauge.set({ list }, s.dirty && s.caughtUp ? 1 : 0);
  }, 1000);
  dirtyTimer.unref();
  const sweepTimer = setInterval(() => {
    for (const s of syncs.values()) s.sweep(now());
  }, options.sweepMs ?? 60_000);
  sweepTimer.unref();

  return {
    ready,
    state() {
      const out = {} as Record<ListName, ListSyncState>;
      for (const [list, s] of syncs) out[list] = { entries: s.table.size, synced: s.synced, dirty: s.dirty && s.caughtUp, lastWriteAt: s.lastWriteAt };
      return out;
    },
    health() {
      const all = [...syncs.values()];
      const loading = all.filter((s) => !s.synced);
      if (loading.length) {
        const reading = loading.filter((s) => !s.caughtUp);
        return {
          state: 'degraded',
          detail: reading.length
            ? `reading ${reading.map((s) => LIST_TOPICS[s.list]).join(', ')} to the end (${reading.map((s) => s.table.size).join(', ')} entries so far)`
            : `writing the lists to the store${loading.some((s) => s.lastError) ? `: failing (${String((loading.find((s) => s.lastError)?.lastError as Error)?.message)})` : ''}`,
        };
      }
      const failing = all.filter((s) => s.dirty);
      if (failing.length) {
        return { state: 'degraded', detail: `the store is not taking writes (${String((failing[0]?.lastError as Error | null)?.message ?? 'retrying')}); ${failing.map((s) => `${s.table.size} ${s.list}`).join(', ')} entries will be rewritten when it answers` };
      }
      return { state: 'ok', detail: all.map((s) => `${s.table.size} ${s.list}`).join(', ') };
    },
    async stop() {
      stopped = true;
      clearInterval(dirtyTimer);
      clearInterval(sweepTimer);
      clearInterval(checkTimer);
      if (subscribeTimer) clearTimeout(subscribeTimer);
      for (const s of syncs.values()) s.stop();
      await Promise.all(readers.map((r) => r.stop()));
      await (subscription as { close(): Promise<void> } | null)?.close();
    },
  };
}
