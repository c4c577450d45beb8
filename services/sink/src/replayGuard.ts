/**
 * Exactly-once rows from at-least-once delivery. The event log commits a batch's offsets
 * only after its insert, so after a crash (or a rebalance, or a failed attempt) a batch may
 * come again, in part or whole, perhaps cut differently. Every row records the message it
 * came from (log_epoch, kafka_partition, kafka_offset); whenever a batch does not simply
 * follow the last one this process handled for that partition, the guard asks ClickHouse
 * which of its offsets (and any after it) are already stored, and those are skipped. A
 * batch that does follow needs no look-up, so the steady state costs nothing.
 *
 * The epoch keeps offset spaces apart: the in-process log restarts at offset 0 on every
 * start while the chDB data stays, and a new epoch tells those offsets apart from the old.
 */
import type { AnalyticsStore, StreamTable } from '@ipwatch/store';

export interface ReplayGuard {
  /** Offsets (decimal strings) of this batch already stored; empty in the steady state. */
  storedOffsets(table: StreamTable, epoch: string, partition: number, first: bigint): Promise<ReadonlySet<string>>;
  /** The batch up to `last` is stored: the next batch of this partition needs no look-up if it starts at last + 1. */
  handled(table: string, epoch: string, partition: number, last: bigint): void;
  /** An attempt failed: look up again before the next attempt (part of it may have landed). */
  failed(table: string, epoch: string, partition: number): void;
}

const NONE: ReadonlySet<string> = new Set();

interface PartitionState {
  next: bigint;
  /** Offsets at or past `next` found stored by the last look-up, until the batches pass them. */
  ahead: Set<string>;
  aheadMax: bigint;
}

export function createReplayGuard(analytics: Pick<AnalyticsStore, 'storedOffsets'>): ReplayGuard {
  const state = new Map<string, PartitionState>();
  const keyOf = (table: string, epoch: string, partition: number) => `${table}\u0000${epoch}\u0000${partition}`;

  return {
    async storedOffsets(table, epoch, partition, first) {
      const key = keyOf(table, epoch, partition);
      const s = state.get(key);
      if (s && s.next === first) return s.ahead.size ? s.ahead : NONE;
      const ahead = await analytics.storedOffsets({ table, epoch, partition, first });
      let aheadMax = -1n;
      for (const o of ahead) if (BigInt(o) > aheadMax) aheadMax = BigInt(o);
      state.set(key, { next: first, ahead, aheadMax });
      return ahead.size ? ahead : NONE;
    },
    handled(table, epoch, partition, last) {
      const key = keyOf(table, epoch, partition);
      const s = state.get(key);
      const ahead = s && s.aheadMax > last ? s.ahead : new Set<string>();
      state.set(key, { next: last + 1n, ahead, aheadMax: ahead.size ? s!.aheadMax : -1n });
    },
    failed(table, epoch, partition) {
      state.delete(keyOf(table, epoch, partition));
    },
  };
}
