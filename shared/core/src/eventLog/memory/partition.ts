/**
 * The storage of the in-process log: a topic's partitions, each an append-only array of
 * records with Kafka's offsets, trimmed at the front (retention, committed records) and, for
 * a compacted topic, compacted to the latest record per key.
 *
 * @example
 * const t = new Topic('ipwatch.blocks.v1', [new Partition('ipwatch.blocks.v1', 0, true)], true);
 * t.partitionFor('203.0.113.7').append({ key: '203.0.113.7', value }, Date.now());
 */
import type { LogMessage, OutgoingMessage } from '../../eventLog.ts';
import type { Group } from './groupConsumer.ts';

/** Partitions are trimmed physically only once this many dead entries sit at the front (amortises the copy). */
const COMPACT_FRONT_AFTER = 4096;
/** A compacted partition is rewritten once this many records are superseded and they are at least half of it. */
const COMPACT_AFTER_SUPERSEDED = 1024;

export class Partition {
  /** Live records are entries[head..]; offs[i] is entries[i]'s offset as a number (kept for search). */
  entries: LogMessage[] = [];
  offs: number[] = [];
  head = 0;
  nextOffset = 0;
  /** Compacted topics: key -> offset of its latest record. */
  readonly latest: Map<string, number> | null;
  superseded = 0;

  constructor(
    readonly topic: string,
    readonly index: number,
    compacted: boolean,
  ) {
    this.latest = compacted ? new Map() : null;
  }

  get firstOffset(): number {
    return this.head < this.offs.length ? (this.offs[this.head] as number) : this.nextOffset;
  }

  /** Index of the first live record whose offset is >= offset (entries.length if none). */
  indexAtOrAfter(offset: number): number {
    let lo = this.head;
    let hi = this.offs.length;
    // Fast path: a delete-policy partition has no gaps, so the index is a subtraction.
    if (this.latest === null) {
      if (lo >= hi) return hi;
      const i = lo + (offset - (this.offs[lo] as number));
      return i < lo ? lo : i > hi ? hi : i;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.offs[mid] as number) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  append(message: OutgoingMessage, timestamp: number): void {
    const offset = this.nextOffset++;
    const record: LogMessage = {
      topic: this.topic,
      partition: this.index,
      offset: String(offset),
      timestamp,
      key: message.key,
      value: message.value,
      headers: message.headers ? { ...message.headers } : {},
    };
    this.entries.push(record);
    this.offs.push(offset);
    if (this.latest !== null && message.key !== null) {
      if (this.latest.has(message.key)) this.superseded++;
      this.latest.set(message.key, offset);
      if (this.superseded >= COMPACT_AFTER_SUPERSEDED && this.superseded * 2 >= this.entries.length - this.head) this.compact();
    }
  }

  /** Drops every record older than `offset`. */
  trimBefore(offset: number): void {
    const i = this.indexAtOrAfter(offset);
    if (i <= this.head) return;
    this.head = i;
    if (this.head >= COMPACT_FRONT_AFTER && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.offs = this.offs.slice(this.head);
      this.head = 0;
    }
  }

  /** Keeps the latest record per key (tombstones too, so a reader part-way through still sees the delete). */
  private compact(): void {
    const latest = this.latest as Map<string, number>;
    const entries: LogMessage[] = [];
    const offs: number[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as LogMessage;
      const o = this.offs[i] as number;
      if (e.key === null || latest.get(e.key) === o) {
        entries.push(e);
        offs.push(o);
      }
    }
    this.entries = entries;
    this.offs = offs;
    this.head = 0;
    this.superseded = 0;
  }

  isLatest(record: LogMessage, offset: number): boolean {
    return this.latest === null || record.key === null || this.latest.get(record.key) === offset;
  }
}

export class Topic {
  /** Everything that waits for new records here: group consumers and compacted readers. */
  readonly listeners = new Set<{ wake(): void }>();
  /** Groups that ever subscribed: a delete-policy topic keeps what any of them has not committed. */
  readonly groups = new Set<Group>();
  /** File this compacted topic is persisted to, if any. */
  persistPath: string | null = null;
  private roundRobin = 0;

  constructor(
    readonly name: string,
    readonly partitions: Partition[],
    readonly compacted: boolean,
  ) {}

  partitionFor(key: string | null): Partition {
    const n = this.partitions.length;
    const i = key === null ? this.roundRobin++ % n : fnv1a(key) % n;
    return this.partitions[i] as Partition;
  }
}

/** FNV-1a over UTF-16 code units: stable across runs and processes, and cheap. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
