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
import type { CompactedReadOptions, CompactedReader, ConsumeOptions, EventLog, LogConsumer, LogMessage, OutgoingMessage, RangeReadOptions, RangeReadResult } from '../../eventLog.ts';
import type { RetentionConfig } from '../../config.ts';
import { topicSpecs, type TopicSpec } from '../../topics.ts';
import { nonNegative, positiveInt } from '../numberOptions.ts';
import { checkRangeOptions } from '../rangeOptions.ts';
import { MemoryCompactedReader } from './compactedReader.ts';
import { Group, MemoryConsumer, type ConsumerHost } from './groupConsumer.ts';
import { Partition, Topic } from './partition.ts';
import { appendPersisted, loadPersistedTopic } from './persistence.ts';
import { readTopicRange } from './rangeRead.ts';

/** ipwatch's own compacted topics are compacted here even when used before ensureTopics(). */
const KNOWN_COMPACTED = new Map(topicSpecs(1).filter((s) => s.config['cleanup.policy'] === 'compact').map((s) => [s.name, s]));
/** How often messages past their topic's retention are dropped when nothing is produced. */
const RETENTION_SWEEP_MS = 60_000;

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
  /**
   * How long ipwatch's stream topics (topicHours) and its DLQ (dlqDays) keep a message, read or
   * not: retention.ms's counterpart, applied on produce and once a minute (README, "Retention").
   * Other topics, and those given to ensureTopics() without retention.ms, have none. Default 168 h and 30 days.
   */
  retention?: Pick<RetentionConfig, 'topicHours' | 'dlqDays'>;
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

class MemoryEventLog implements EventLog, ConsumerHost {
  readonly kind = 'memory' as const;
  private readonly epochId = `memory-${randomUUID()}`;

  async epoch(): Promise<string> {
    return this.epochId;
  }
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly readers = new Set<MemoryCompactedReader>();
  /** Delete-policy topics with a retention.ms: the oldest time each keeps, as a distance from now. */
  private readonly retentionMs = new Map<Topic, number>();
  private readonly knownStreams: Map<string, TopicSpec>;
  private readonly sweep: NodeJS.Timeout;
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
    this.knownStreams = new Map(topicSpecs(1, opts.retention).filter((s) => s.config['cleanup.policy'] === 'delete').map((s) => [s.name, s]));
    this.sweep = setInterval(() => {
      for (const t of this.retentionMs.keys()) this.applyRetention(t);
    }, RETENTION_SWEEP_MS).unref();
  }

  topic(name: string, given?: TopicSpec): Topic {
    let t = this.topics.get(name);
    if (t === undefined) {
      const spec = given ?? KNOWN_COMPACTED.get(name);
      const n = spec ? positiveInt(`partitions of ${name}`, spec.partitions) : this.defaultPartitions;
      const compacted = (spec?.config['cleanup.policy'] ?? 'delete').split(',').includes('compact');
      t = new Topic(name, Array.from({ length: n }, (_, i) => new Partition(name, i, compacted)), compacted);
      this.topics.set(name, t);
      const retentionMs = Number((given ?? this.knownStreams.get(name))?.config['retention.ms'] ?? -1);
      if (!compacted && retentionMs > 0) this.retentionMs.set(t, retentionMs);
      if (compacted && this.persistDir !== null) loadPersistedTopic(t, this.persistDir);
    }
    return t;
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
      appendPersisted(t, t.persistPath, messages, timestamp);
    }
    if (!t.compacted) this.applyRetention(t);
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

  async readRange(topic: string, options: RangeReadOptions): Promise<RangeReadResult> {
    this.assertOpen();
    const checked = checkRangeOptions(options);
    // Reading does not create a topic; ipwatch's compacted ones are loaded from disk on first use, as readCompacted would.
    const t = this.topics.get(topic) ?? (KNOWN_COMPACTED.has(topic) ? this.topic(topic) : undefined);
    if (t === undefined) return { ends: new Map(), records: 0 };
    return readTopicRange(t, checked, options.onMessage, () => this.closed);
  }

  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    this.assertOpen();
    const out = new Map<number, bigint>();
    for (const [p, offset] of this.groups.get(groupId)?.committed ?? []) if (p.topic === topic) out.set(p.index, BigInt(offset));
    return out;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.assertOpen();
    for (const spec of specs) this.topic(spec.name, spec);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
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

  /** Drops a delete-policy topic's messages beyond its size cap or older than its retention, read or not (as Kafka would). */
  private applyRetention(t: Topic): void {
    const oldest = this.now() - (this.retentionMs.get(t) ?? Infinity);
    for (const p of t.partitions) {
      const live = p.entries.length - p.head;
      let i = live > this.maxMessagesPerPartition ? p.head + (live - this.maxMessagesPerPartition) : p.head;
      // Timestamps rise with the offsets (this log stamps them), so the expired are at the front.
      while (i < p.entries.length && (p.entries[i] as LogMessage).timestamp < oldest) i++;
      if (i > p.head) p.trimBefore(i < p.offs.length ? (p.offs[i] as number) : p.nextOffset);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event log is closed');
  }
}
