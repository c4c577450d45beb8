/**
 * The in-process event log: Kafka's semantics (partitions, per-key order, consumer groups
 * with committed offsets, compacted topics) inside one Node.js process, for the embedded
 * mode. It passes the same contract suite as the Kafka adapter (contract.ts).
 *
 * The log takes ownership of the Buffers it is given (no copy: the embedded pipeline moves
 * tens of thousands of events a second through here); do not reuse them after produce().
 *
 * @example
 * const log = createMemoryEventLog({ partitions: 4 });
 * await log.produce('ipwatch.requests.v1', [{ key: '203.0.113.7', value: encoded }]);
 * const consumer = await log.consume({ groupId: 'enricher', topics: ['ipwatch.requests.v1'], handle: async (batch) => { ... } });
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  CompactedReadOptions,
  CompactedReader,
  ConsumeOptions,
  ConsumerStatus,
  EventLog,
  LogBatch,
  LogConsumer,
  LogMessage,
  OutgoingMessage,
} from '../eventLog.ts';
import { topicSpecs, type TopicSpec } from '../topics.ts';

/** ipwatch's own compacted topics are compacted here even when used before ensureTopics(). */
const KNOWN_COMPACTED = new Map(topicSpecs(1).filter((s) => s.config['cleanup.policy'] === 'compact').map((s) => [s.name, s]));

export interface MemoryEventLogOptions {
  /** Partitions of a topic created implicitly (by produce or consume, not ensureTopics). Default 1, like Kafka's num.partitions. */
  partitions?: number;
  /** Messages handed to one handle() call when the consumer does not say. Default 1000. */
  defaultMaxBatchSize?: number;
  /** First wait before a failed batch is offered again; doubles per failure. Default 100 ms. */
  retryBackoffMs?: number;
  /** Longest wait between attempts of a failing batch. Default 5000 ms. */
  maxRetryBackoffMs?: number;
  /**
   * Retention cap per partition of a delete-policy topic, the stand-in for retention.ms:
   * beyond it the oldest messages go even if a group has not read them. Default 1,000,000.
   */
  maxMessagesPerPartition?: number;
  /**
   * Records every group has already committed that a delete-policy partition still keeps, so
   * a group that joins later from the beginning finds recent history (like Kafka's retention
   * would keep it). Older committed records are dropped, which bounds memory. Default 1000.
   */
  retainCommitted?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
  /**
   * A directory where compacted topics (blocks, allowlist, rules: state, not streams) are kept
   * on disk, so that the embedded mode's blocks survive a restart. Each such topic is one
   * JSON-lines file, appended to on produce and rewritten compacted when loaded. Stream topics
   * stay in memory only. Default: none (nothing persisted).
   */
  persistDir?: string;
}

/** Creates an empty in-process event log. */
export function createMemoryEventLog(opts: MemoryEventLogOptions = {}): EventLog {
  return new MemoryEventLog(opts);
}

/** One record of a persisted compacted topic, one JSON line each. */
interface PersistedRecord {
  p: number;
  k: string | null;
  v: string | null;
  h: Record<string, string>;
  t: number;
}

function persistedLine(m: { partition: number; key: string | null; value: Buffer | null; headers?: Record<string, string>; timestamp: number }): string {
  const r: PersistedRecord = { p: m.partition, k: m.key, v: m.value === null ? null : m.value.toString('base64'), h: m.headers ?? {}, t: m.timestamp };
  return `${JSON.stringify(r)}\n`;
}

/** Partitions are trimmed physically only once this many dead entries sit at the front (amortises the copy). */
const COMPACT_FRONT_AFTER = 4096;
/** A compacted partition is rewritten once this many records are superseded and they are at least half of it. */
const COMPACT_AFTER_SUPERSEDED = 1024;

class Partition {
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

class Topic {
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

class Group {
  readonly committed = new Map<Partition, number>();
  /** In join order; partition p of a topic belongs to the (p mod n)-th member subscribed to it. */
  readonly members: MemoryConsumer[] = [];
  /** Partitions with a batch in hand: no two members of a group ever work on one at once. */
  readonly busy = new Set<Partition>();
  generation = 0;

  constructor(readonly id: string) {}

  wakeAll(): void {
    for (const m of this.members) m.wake();
  }
}

class MemoryEventLog implements EventLog {
  readonly kind = 'memory' as const;
  private readonly epochId = `memory-${randomUUID()}`;

  async epoch(): Promise<string> {
    return this.epochId;
  }
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly readers = new Set<MemoryCompactedReader>();
  private closed = false;
  readonly now: () => number;
  readonly defaultPartitions: number;
  readonly defaultMaxBatchSize: number;
  readonly retryBackoffMs: number;
  readonly maxRetryBackoffMs: number;
  readonly maxMessagesPerPartition: number;
  readonly retainCommitted: number;
  readonly persistDir: string | null;

  constructor(opts: MemoryEventLogOptions) {
    this.persistDir = opts.persistDir ?? null;
    this.now = opts.now ?? Date.now;
    this.defaultPartitions = positiveInt('partitions', opts.partitions ?? 1);
    this.defaultMaxBatchSize = positiveInt('defaultMaxBatchSize', opts.defaultMaxBatchSize ?? 1000);
    this.retryBackoffMs = nonNegative('retryBackoffMs', opts.retryBackoffMs ?? 100);
    this.maxRetryBackoffMs = nonNegative('maxRetryBackoffMs', opts.maxRetryBackoffMs ?? 5000);
    this.maxMessagesPerPartition = positiveInt('maxMessagesPerPartition', opts.maxMessagesPerPartition ?? 1_000_000);
    this.retainCommitted = nonNegative('retainCommitted', opts.retainCommitted ?? 1000);
  }

  topic(name: string, given?: TopicSpec): Topic {
    let t = this.topics.get(name);
    if (t === undefined) {
      const spec = given ?? KNOWN_COMPACTED.get(name);
      const n = spec ? positiveInt(`partitions of ${name}`, spec.partitions) : this.defaultPartitions;
      const compacted = (spec?.config['cleanup.policy'] ?? 'delete').split(',').includes('compact');
      t = new Topic(name, Array.from({ length: n }, (_, i) => new Partition(name, i, compacted)), compacted);
      this.topics.set(name, t);
      if (compacted && this.persistDir !== null) this.loadPersisted(t, this.persistDir);
    }
    return t;
  }

  /** Reads a compacted topic back from disk, then rewrites its file with only the latest record per key. */
  private loadPersisted(t: Topic, dir: string): void {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${encodeURIComponent(t.name)}.jsonl`);
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (line === '') return;
        let r: PersistedRecord;
        try {
          r = JSON.parse(line) as PersistedRecord;
        } catch {
          // A line cut short by a crash mid-append is the last one; anything else is not ours to guess.
          if (i >= lines.length - 2) return;
          throw new Error(`${path}, line ${i + 1}: not a record of the in-process log; move the file away to start with an empty ${t.name}`);
        }
        const p = t.partitions[r.p % t.partitions.length] as Partition;
        p.append({ key: r.k, value: r.v === null ? null : Buffer.from(r.v, 'base64'), headers: r.h }, r.t);
      });
    }
    const kept: string[] = [];
    for (const p of t.partitions) {
      for (let i = p.head; i < p.entries.length; i++) {
        const e = p.entries[i] as LogMessage;
        // Tombstones need not be kept on disk: the topic is read again from the start after a restart.
        if (e.value !== null && p.isLatest(e, p.offs[i] as number)) kept.push(persistedLine(e));
      }
    }
    writeFileSync(`${path}.tmp`, kept.join(''));
    renameSync(`${path}.tmp`, path);
    t.persistPath = path;
  }

  async produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    // Check every message before appending any: a bad one must not leave half a batch behind.
    for (const m of messages) {
      if (m.value !== null && !Buffer.isBuffer(m.value)) throw new TypeError(`produce(${topic}): value must be a Buffer or null`);
      if (m.key !== null && typeof m.key !== 'string') throw new TypeError(`produce(${topic}): key must be a string or null`);
    }
    const t = this.topic(topic);
    const timestamp = this.now();
    if (t.persistPath === null) {
      for (const m of messages) t.partitionFor(m.key).append(m, timestamp);
    } else {
      const parts = messages.map((m) => t.partitionFor(m.key));
      // Written before the records are visible, synchronously: what produce() accepted is on disk.
      appendFileSync(t.persistPath, messages.map((m, i) => persistedLine({ ...m, partition: (parts[i] as Partition).index, timestamp })).join(''));
      messages.forEach((m, i) => (parts[i] as Partition).append(m, timestamp));
    }
    if (!t.compacted) for (const p of t.partitions) this.applyRetention(p);
    for (const l of t.listeners) l.wake();
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    this.assertOpen();
    if (options.topics.length === 0) throw new Error('consume: topics is empty');
    let group = this.groups.get(options.groupId);
    if (group === undefined) {
      group = new Group(options.groupId);
      this.groups.set(options.groupId, group);
    }
    const topics = options.topics.map((name) => this.topic(name));
    const consumer = new MemoryConsumer(this, group, topics, options);
    this.consumers.add(consumer);
    consumer.done.finally(() => this.consumers.delete(consumer)).catch(() => undefined);
    return consumer;
  }

  async readCompacted(topic: string, options: CompactedReadOptions): Promise<CompactedReader> {
    this.assertOpen();
    const reader = new MemoryCompactedReader(this.topic(topic), options);
    this.readers.add(reader);
    reader.stopped.then(() => this.readers.delete(reader)).catch(() => undefined);
    try {
      reader.start();
    } catch (err) {
      await reader.stop();
      throw err;
    }
    return reader;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.assertOpen();
    for (const spec of specs) this.topic(spec.name, spec);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.readers].map((r) => r.stop()));
  }

  /** After a commit: drop what every group of a delete-policy topic has committed (but the last `retainCommitted`). */
  trimCommitted(t: Topic, p: Partition): void {
    if (t.compacted) return;
    let min = Infinity;
    for (const g of t.groups) {
      const c = g.committed.get(p);
      if (c === undefined) return; // a group that has not committed here yet may still read from the start
      if (c < min) min = c;
    }
    if (min !== Infinity) p.trimBefore(min - this.retainCommitted);
  }

  private applyRetention(p: Partition): void {
    const live = p.entries.length - p.head;
    if (live > this.maxMessagesPerPartition) p.trimBefore(p.firstOffset + (live - this.maxMessagesPerPartition));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event log is closed');
  }
}

interface Assigned {
  topic: Topic;
  partition: Partition;
}

class MemoryConsumer implements LogConsumer {
  private running = true;
  private idle = false;
  private lastPollAt = 0;
  private lastCommitAt = 0;
  private failures = 0;
  private assigned: Assigned[] = [];
  private assignedGeneration = -1;
  private cursor = 0;
  /** Where this member starts in partitions its group has never committed (fromBeginning false: the end at subscribe time). */
  private readonly startAt = new Map<Partition, number>();
  private wakeUp: (() => void) | null = null;
  private interruptBackoff: (() => void) | null = null;
  private readonly maxBatchSize: number;
  readonly done: Promise<void>;

  constructor(
    private readonly log: MemoryEventLog,
    private readonly group: Group,
    private readonly topics: Topic[],
    private readonly options: ConsumeOptions,
  ) {
    this.maxBatchSize = positiveInt('maxBatchSize', options.maxBatchSize ?? log.defaultMaxBatchSize);
    const fromBeginning = options.fromBeginning ?? true;
    for (const t of topics) {
      t.groups.add(group);
      t.listeners.add(this);
      if (!fromBeginning) for (const p of t.partitions) this.startAt.set(p, p.nextOffset);
    }
    group.members.push(this);
    group.generation++;
    group.wakeAll();
    this.done = this.loop();
  }

  status(): ConsumerStatus {
    let lag = 0;
    for (const { partition } of this.assignment()) lag += partition.nextOffset - this.position(partition);
    return {
      // An idle loop is waiting on new records, which counts as polling right now.
      lastPollAt: this.idle ? this.log.now() : this.lastPollAt,
      lastCommitAt: this.lastCommitAt,
      failures: this.failures,
      lag,
      running: this.running,
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    this.interruptBackoff?.();
    await this.done;
  }

  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private position(p: Partition): number {
    return Math.max(this.group.committed.get(p) ?? this.startAt.get(p) ?? 0, p.firstOffset);
  }

  private assignment(): Assigned[] {
    if (this.assignedGeneration === this.group.generation) return this.assigned;
    const assigned: Assigned[] = [];
    for (const topic of this.topics) {
      const subscribers = this.group.members.filter((m) => m.topics.includes(topic));
      const me = subscribers.indexOf(this);
      if (me < 0) continue;
      for (const partition of topic.partitions) {
        if (partition.index % subscribers.length === me) assigned.push({ topic, partition });
      }
    }
    this.assigned = assigned;
    this.assignedGeneration = this.group.generation;
    return assigned;
  }

  private nextBatch(): { topic: Topic; partition: Partition; batch: LogBatch; next: number } | null {
    const assigned = this.assignment();
    const n = assigned.length;
    for (let k = 0; k < n; k++) {
      const a = assigned[(this.cursor + k) % n] as Assigned;
      const p = a.partition;
      if (this.group.busy.has(p)) continue;
      const from = p.indexAtOrAfter(this.position(p));
      if (from >= p.entries.length) continue;
      const to = Math.min(from + this.maxBatchSize, p.entries.length);
      // Next time start after this partition, so a busy partition cannot starve the others.
      this.cursor = (this.cursor + k + 1) % n;
      return {
        topic: a.topic,
        partition: p,
        batch: { topic: a.topic.name, partition: p.index, messages: p.entries.slice(from, to) },
        next: (p.offs[to - 1] as number) + 1,
      };
    }
    return null;
  }

  /** How much longer to wait before handing over this batch: 0 once it is full or old enough. */
  private fillWait(batch: LogBatch): number {
    const wait = this.options.batchWaitMs ?? 0;
    const first = batch.messages[0];
    if (wait <= 0 || !first || batch.messages.length >= this.maxBatchSize) return 0;
    return Math.max(0, first.timestamp + wait - this.log.now());
  }

  private async loop(): Promise<void> {
    try {
      while (this.running) {
        const work = this.nextBatch();
        this.lastPollAt = this.log.now();
        const waitMore = work === null ? 0 : this.fillWait(work.batch);
        if (waitMore > 0) {
          // Let a small batch fill up (batchWaitMs), as a Kafka fetch with fetch.min.bytes would.
          await new Promise<void>((res) => {
            const timer = setTimeout(res, waitMore);
            this.wakeUp = () => {
              clearTimeout(timer);
              res();
            };
          });
          this.wakeUp = null;
          continue;
        }
        if (work === null) {
          this.idle = true;
          await new Promise<void>((res) => {
            this.wakeUp = res;
          });
          this.idle = false;
          continue;
        }
        this.group.busy.add(work.partition);
        try {
          await this.handleUntilDone(work.batch, () => {
            const prev = this.group.committed.get(work.partition) ?? -1;
            if (work.next > prev) this.group.committed.set(work.partition, work.next);
            this.lastCommitAt = this.log.now();
            this.log.trimCommitted(work.topic, work.partition);
          });
        } finally {
          this.group.busy.delete(work.partition);
        }
        // Another member may have been waiting for this partition (after a rebalance).
        if (this.group.members.length > 1) this.group.wakeAll();
      }
    } finally {
      this.running = false;
      this.idle = false;
      const i = this.group.members.indexOf(this);
      if (i >= 0) this.group.members.splice(i, 1);
      for (const t of this.topics) t.listeners.delete(this);
      this.group.generation++;
      this.group.wakeAll();
    }
  }

  /** Offers one batch until handle() resolves (then commits) or the consumer stops (then commits nothing). */
  private async handleUntilDone(batch: LogBatch, commit: () => void): Promise<void> {
    for (;;) {
      try {
        await this.options.handle(batch);
        commit();
        this.failures = 0;
        return;
      } catch (err) {
        this.failures++;
        try {
          this.options.onError?.(err, batch);
        } catch {
          // A failing error callback must not kill the consume loop; the batch failure is already counted.
        }
        if (!this.running) return;
        const wait = Math.min(this.log.maxRetryBackoffMs, this.log.retryBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        // Only stop() cuts the back-off short; new records arriving do not.
        await new Promise<void>((res) => {
          const timer = setTimeout(res, wait);
          this.interruptBackoff = () => {
            clearTimeout(timer);
            res();
          };
        });
        this.interruptBackoff = null;
        if (!this.running) return;
        this.lastPollAt = this.log.now();
      }
    }
  }
}

class MemoryCompactedReader implements CompactedReader {
  readonly ready: Promise<void>;
  readonly stopped: Promise<void>;
  private resolveReady!: () => void;
  private resolveStopped!: () => void;
  private readonly positions: number[];
  private scheduled = false;
  private running = true;

  constructor(
    private readonly topic: Topic,
    private readonly options: CompactedReadOptions,
  ) {
    this.ready = new Promise((res) => {
      this.resolveReady = res;
    });
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
    this.positions = topic.partitions.map(() => 0);
  }

  start(): void {
    // The first pass runs now, so `ready` is already resolved when readCompacted returns.
    this.pump(true);
    this.resolveReady();
    if (this.options.follow === false) void this.stop();
    else this.topic.listeners.add(this);
  }

  wake(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    // Deliver outside the producer's call stack.
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.running) this.pump(false);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.topic.listeners.delete(this);
    this.resolveStopped();
  }

  private pump(initial: boolean): void {
    for (const p of this.topic.partitions) {
      const pos = this.positions[p.index] as number;
      const end = p.entries.length;
      for (let i = p.indexAtOrAfter(pos); i < end; i++) {
        const record = p.entries[i] as LogMessage;
        const offset = p.offs[i] as number;
        // A reader starting cold gets what a compacted log would hold: only the latest record per key.
        if (!initial || p.isLatest(record, offset)) this.options.onMessage(record);
      }
      this.positions[p.index] = p.nextOffset;
    }
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

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a whole number >= 1, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a number >= 0, got ${v}`);
  return v;
}
