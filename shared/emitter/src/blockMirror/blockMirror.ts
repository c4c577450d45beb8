/**
 * The block list and the allowlist inside the app process, so that "is this client
 * blocked?" is answered from memory on every request, with no I/O.
 *
 * Loading: subscribe first, scan both lists into new tables while the announced changes
 * wait in a buffer, apply that buffer in order, then swap the new tables in (a lookup sees
 * the old tables or the new ones, never a half-loaded one) and apply changes live from then
 * on. A 'reset' (blocksync replaced a list) or the link coming back after a loss loads
 * again the same way, the old tables serving meanwhile. While the store is down the mirror
 * keeps enforcing what it last knew, and says so in state() and health().
 *
 * Until the first load completes nothing is blocked (the app serves; `ready` lets it wait).
 *
 * @example
 * const mirror = createBlockMirror({ lists: createRedisSharedLists(url), onWarn: log.warn });
 * await mirror.ready;
 * if (mirror.check(clientIp) === 'blocked') return res.status(403).end();
 */
import type { CheckResult } from '@ipwatch/core/observability/health';
import { backoffDelay, createWakeableSleep } from '@ipwatch/core/retry';
import type { ListChange, ListEntry, ListName, ListSubscription, SharedLists } from '@ipwatch/core/sharedLists';
import { AddressParser, NOT_IP } from './addressParser.ts';
import { PrefixTable } from './prefixTable.ts';

export interface BlockMirrorOptions {
  /** Where the lists live (Redis, or in-process in the embedded mode). The caller closes it. */
  lists: SharedLists;
  /** Clock, ms since epoch (for tests). Default Date.now. */
  now?: () => number;
  /** Told when the store goes away or comes back, and about entries it cannot use. Default: process.emitWarning. */
  onWarn?: (message: string, err?: unknown) => void;
  /** First wait before a failed subscribe or load is tried again; doubles per failure. Default 250 ms. */
  retryMs?: number;
  /** Longest wait between attempts. Default 2000 ms. */
  maxRetryMs?: number;
}

/** 'allowed': on the allowlist (which wins over any block); 'blocked'; null: on neither list. */
export type BlockVerdict = 'allowed' | 'blocked' | null;

export interface BlockMirrorState {
  /** The change feed from the store is up. */
  connected: boolean;
  /** The tables are the store's lists as of now: loaded, and no change missed since. */
  synced: boolean;
  /** Serving the last known lists because the store is (or was just) unreachable. */
  stale: boolean;
  /** Entries in the block list (expired ones included until they are removed). */
  blocks: number;
  /** Entries in the allowlist. */
  allows: number;
  /** When the last full load completed, ms since epoch; 0: never. */
  lastSyncAt: number;
  /** Full loads completed. */
  syncs: number;
  /** Announced changes applied (live, or after a load from its buffer). */
  changesApplied: number;
  /** Full loads after the first (on reset or reconnect). */
  resyncs: number;
  /** Entries skipped because their target is not an IP or CIDR. */
  invalid: number;
}

export interface BlockMirror {
  /** Resolves after the first full load of both lists; never rejects (closing resolves it too). */
  readonly ready: Promise<void>;
  /** The verdict for a canonical client IP; null also for text that is not an IP. */
  check(ip: string): BlockVerdict;
  isBlocked(ip: string): boolean;
  state(): BlockMirrorState;
  /** ok when in sync; degraded when serving stale lists or nothing loaded yet; error once closed. */
  health(): CheckResult;
  /** Stops following the store (the lists client is the caller's to close). */
  close(): Promise<void>;
}

/** Changes held during one load; past this the load is done again instead (bounded memory). */
const MAX_BUFFERED_CHANGES = 100_000;

export function createBlockMirror(options: BlockMirrorOptions): BlockMirror {
  const { lists } = options;
  const now = options.now ?? Date.now;
  const warn = options.onWarn ?? ((message: string, err?: unknown) => process.emitWarning(err ? `${message}: ${describe(err)}` : message));
  const retryMs = options.retryMs ?? 250;
  const maxRetryMs = options.maxRetryMs ?? 2000;

  let blocks = new PrefixTable();
  let allows = new PrefixTable();
  const parser = new AddressParser();

  let subscription: ListSubscription | null = null;
  let connected = false;
  let synced = false;
  let closed = false;
  /** Changes announced while a load runs, in order; null when no load runs. */
  let buffer: ListChange[] | null = null;
  /** A load is wanted (start, reset, link back): the running one, if any, is done again. */
  let loadWanted = true;
  /** A load loop runs; the flag is cleared in the same tick as its last check of loadWanted, so no request falls in between. */
  let loading = false;
  let loader: Promise<void> = Promise.resolve();
  /** Cuts a retry wait short (the link came back, or close). */
  const retryWait = createWakeableSleep();
  /** Since when the tables may miss changes (the link dropped); 0 while in sync. */
  let staleSince = 0;
  /** Why the store could not be reached, for health(). */
  let lastError = '';
  let outageReported = false;
  const counters = { lastSyncAt: 0, syncs: 0, changesApplied: 0, resyncs: 0, invalid: 0 };

  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));

  /** Puts one entry in a table; an already expired one only removes what it replaces. */
  const put = (table: PrefixTable, entry: ListEntry, at: number): void => {
    if (entry.expiresAt !== null && entry.expiresAt <= at) table.delete(entry.target);
    else table.set(entry.target, entry.expiresAt);
  };

  const apply = (change: ListChange, blockTable: PrefixTable, allowTable: PrefixTable): void => {
    if (change.op === 'reset') return;
    const table = change.list === 'blocks' ? blockTable : allowTable;
    try {
      if (change.op === 'put') put(table, change.entry, now());
      else table.delete(change.target);
      counters.changesApplied++;
    } catch (err) {
      counters.invalid++;
      warn(`block mirror: ignored a ${change.op} on the ${listLabel(change.list)} it cannot use`, err);
    }
  };

  const handlers = {
    onChange(change: ListChange): void {
      if (closed) return;
      if (change.op === 'reset') return requestLoad();
      // While a load runs, its changes wait for the new tables; once that load is to be done
      // again anyway, they go to the tables in service instead, which stay fresher meanwhile.
      if (buffer !== null && !loadWanted) {
        buffer.push(change);
        if (buffer.length > MAX_BUFFERED_CHANGES) {
          buffer = [];
          requestLoad();
        }
        return;
      }
      apply(change, blocks, allows);
    },
    onConnection(up: boolean): void {
      if (closed) return;
      connected = up;
      if (up) return requestLoad();
      synced = false;
      if (staleSince === 0) staleSince = now();
      reportOutage('the change feed from the store dropped');
    },
  };

  function reportOutage(what: string, err?: unknown): void {
    if (err !== undefined) lastError = describe(err);
    if (outageReported) return;
    outageReported = true;
    const serving = counters.syncs > 0 ? `serving the last known lists (${blocks.size} blocks, ${allows.size} allowlist entries)` : 'nothing is blocked until the lists load';
    warn(`block mirror: ${what}; ${serving}; retrying in the background`, err);
  }

  function requestLoad(): void {
    loadWanted = true;
    retryWait.wake();
    if (!loading && !closed) {
      loading = true;
      loader = runLoads();
    }
  }

  async function runLoads(): Promise<void> {
    let failures = 0;
    try {
      while (loadWanted && !closed) {
        loadWanted = false;
        try {
          if (subscription === null) {
            subscription = await lists.subscribe(handlers);
            if (closed) return void (await subscription.close());
            connected = true;
          }
          await loadOnce();
          failures = 0;
        } catch (err) {
          loadWanted = true;
          if (staleSince === 0) staleSince = now();
          synced = false;
          reportOutage(subscription === null ? 'cannot subscribe to the lists' : 'cannot load the lists', err);
          // Not unref'd: an app awaiting `ready` while the store is down must wait, not exit. close() ends the wait.
          await retryWait.sleep(backoffDelay(++failures, retryMs, maxRetryMs));
        }
      }
    } finally {
      // In the same function as the loop's last check: a request after it starts a new loop.
      loading = false;
    }
  }

  /** One full load into new tables, swapped in at the end unless a reset or reconnect made it out of date. */
  async function loadOnce(): Promise<void> {
    const blockTable = new PrefixTable();
    const allowTable = new PrefixTable();
    let invalid = 0;
    let example = '';
    const fill = (table: PrefixTable) => (batch: ListEntry[]) => {
      const at = now();
      for (const entry of batch) {
        try {
          put(table, entry, at);
        } catch {
          if (invalid++ === 0) example = entry.target;
        }
      }
    };
    // A store that restarted (or evicted the lists) holds nothing until blocksync rewrites it:
    // that is "nothing known", not "nothing blocked", so keep serving the last lists and retry.
    for (const list of ['blocks', 'allow'] as const) {
      if (!(await lists.written(list))) throw new Error(`the ${listLabel(list)} is not in the store (blocksync has not written it since the store started)`);
    }
    buffer = [];
    try {
      await lists.scan('blocks', fill(blockTable));
      await lists.scan('allow', fill(allowTable));
      // A reset or a reconnect during the scan: what was read may mix old and new, so read again.
      if (loadWanted || closed) return;
      for (const change of buffer) apply(change, blockTable, allowTable);
    } finally {
      buffer = null;
    }
    blocks = blockTable;
    allows = allowTable;
    counters.invalid += invalid;
    if (invalid > 0) warn(`block mirror: skipped ${invalid} list entr${invalid === 1 ? 'y' : 'ies'} whose target is not an IP or CIDR, e.g. ${JSON.stringify(example)}`);
    counters.lastSyncAt = now();
    if (counters.syncs++ > 0) counters.resyncs++;
    synced = connected;
    if (synced) {
      if (outageReported) warn(`block mirror: back in sync with the store (${blocks.size} blocks, ${allows.size} allowlist entries)`);
      outageReported = false;
      staleSince = 0;
      lastError = '';
    }
    resolveReady();
  }

  requestLoad();

  const check = (ip: string): BlockVerdict => {
    // One parse for both tables; an empty table answers without reading it.
    const family = parser.parse(ip, 0, ip.length);
    if (family === NOT_IP) return null;
    const at = now();
    if (allows.matchParsed(parser, family, at) !== null) return 'allowed';
    if (blocks.matchParsed(parser, family, at) !== null) return 'blocked';
    return null;
  };

  return {
    ready,
    check,
    isBlocked: (ip) => check(ip) === 'blocked',

    state() {
      return {
        connected,
        synced,
        stale: counters.syncs > 0 && !synced,
        blocks: blocks.size,
        allows: allows.size,
        ...counters,
      };
    },

    health() {
      if (closed) return { state: 'error', detail: 'the block mirror is closed' };
      if (synced) return { state: 'ok', detail: `${blocks.size} blocks, ${allows.size} allowlist entries, in sync` };
      const why = connected ? 'catching up with the store' : `store unreachable${lastError ? ` (${lastError})` : ''}`;
      if (counters.syncs === 0) {
        return { state: 'degraded', detail: connected ? 'loading the lists; nothing is blocked until they load' : `no lists loaded yet, ${why}; nothing is blocked until they load` };
      }
      const since = staleSince || counters.lastSyncAt;
      return { state: 'degraded', detail: `serving ${blocks.size} blocks from ${formatAge(now() - since)} ago, ${why}` };
    },

    async close() {
      if (closed) return;
      closed = true;
      retryWait.wake();
      await loader;
      await subscription?.close();
      subscription = null;
      connected = false;
      synced = false;
      resolveReady();
    },
  };
}

function listLabel(list: ListName): string {
  return list === 'blocks' ? 'block list' : 'allowlist';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
