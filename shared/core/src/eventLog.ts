/**
 * The event log: the one interface every ipwatch part uses to talk to Kafka or to its
 * in-process stand-in. Both adapters (eventLog/kafka.ts, eventLog/memory.ts) pass the same
 * contract suite (eventLog/contract.ts).
 */
import type { TopicSpec } from './topics.ts';

export interface OutgoingMessage {
  /** Partitioning key: the canonical IP (or CIDR, rule id). Same key, same partition, same order. */
  key: string | null;
  /** Encoded value; null is a tombstone on a compacted topic. */
  value: Buffer | null;
  headers?: Record<string, string>;
}

export interface LogMessage extends OutgoingMessage {
  topic: string;
  partition: number;
  /** Offset as a decimal string (Kafka offsets are int64). */
  offset: string;
  /** Broker or append time, ms since epoch. */
  timestamp: number;
  headers: Record<string, string>;
}

/** Messages of one topic-partition, in offset order. */
export interface LogBatch {
  topic: string;
  partition: number;
  messages: LogMessage[];
}

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. Default true (earliest). */
  fromBeginning?: boolean;
  /** Upper bound on messages handed to one `handle` call. */
  maxBatchSize?: number;
  /**
   * How long the log may wait to fill a batch before handing over what it has (Kafka's
   * fetch.max.wait.ms with a fetch.min.bytes, or a wait in the in-process log). A sink sets
   * this to its flush interval so that slow traffic still makes few, larger inserts.
   */
  batchWaitMs?: number;
  /**
   * Partitions whose batches may be handled at the same time (kafkajs
   * partitionsConsumedConcurrently). Order within a partition is kept whatever the value.
   * Default 1.
   */
  concurrency?: number;
  /**
   * Does the work for one batch. When it resolves, the batch's offsets are committed.
   * When it throws, nothing is committed and the same batch is offered again after a
   * back-off (a retriable failure). Unprocessable messages must be routed to the DLQ by
   * the handler (see `sendToDlq`) rather than thrown, or the batch would repeat forever.
   */
  handle: (batch: LogBatch) => Promise<void>;
  /** Called on each failed attempt, for logs and metrics. */
  onError?: (err: unknown, batch: LogBatch) => void;
}

export interface ConsumerStatus {
  /** Last time the loop fetched (or found nothing to fetch), ms since epoch; 0 before the first. */
  lastPollAt: number;
  /** Last time a batch was handled successfully. */
  lastCommitAt: number;
  /** Consecutive failed attempts of the current batch. */
  failures: number;
  /** Messages behind the end of the log, summed over assigned partitions, when known. */
  lag: number | null;
  running: boolean;
}

export interface LogConsumer {
  status(): ConsumerStatus;
  /** Stops after the batch in hand is finished (and committed, if it succeeded). */
  stop(): Promise<void>;
}

export interface CompactedReadOptions {
  /** Called for every record in offset order; value null is a tombstone. */
  onMessage: (message: LogMessage) => void;
  /** Keep tailing after reaching the end. Default true. */
  follow?: boolean;
}

export interface CompactedReader {
  /** Resolves once every record present when reading started has been delivered. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface RangeReadOptions {
  /**
   * First record delivered: in each partition, the first whose timestamp is >= sinceMs (Kafka:
   * the offset for that time); every later record of the partition follows, whatever its time.
   */
  sinceMs: number;
  /** Called for every record in offset order per partition (tombstones included, value null). */
  onMessage: (message: LogMessage) => void;
  /** Only these partitions (default: all). A partition the topic does not have holds nothing. */
  partitions?: number[];
}

export interface RangeReadResult {
  /**
   * Per partition read that had ever held a record, the offset one past the last record that
   * existed when the read started: what was read up to. Empty for a missing or empty topic.
   */
  ends: Map<number, bigint>;
  /** Records delivered. */
  records: number;
}

export interface EventLog {
  readonly kind: 'kafka' | 'memory';
  /**
   * Names the offset space: an offset identifies a message only within (epoch, topic,
   * partition). The in-process log starts again at offset 0 each time it is created, so its
   * epoch is new each time; Kafka's is the cluster id (a topic deleted and created again
   * under the same name reuses offsets without changing it: don't, or clear its tables).
   */
  epoch(): Promise<string>;
  /** Appends messages to one topic. Resolves when the log has accepted them. */
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<LogConsumer>;
  /** Reads a compacted topic from its beginning (no consumer group, no commits). */
  readCompacted(topic: string, options: CompactedReadOptions): Promise<CompactedReader>;
  /**
   * Re-reads the recent part of a topic (a restarted service rebuilding its windows): every
   * record from `sinceMs` up to the ends taken when the read starts, then resolves. Not
   * compacted, no commits, no lasting consumer group; a missing topic is not created and
   * resolves with nothing read.
   *
   * @example
   * const { records } = await log.readRange(TOPICS.detections, { sinceMs: Date.now() - 15 * 60_000, onMessage: remember });
   */
  readRange(topic: string, options: RangeReadOptions): Promise<RangeReadResult>;
  /**
   * A consumer group's committed offsets on a topic: per partition, the next offset the group
   * will read (partitions it never committed are absent). The scorer uses it to tell requests
   * it judged before a restart (rebuilt into its windows only) from those it has still to judge.
   */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>>;
  /** Creates missing topics with their configs; existing topics are left as they are. */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  close(): Promise<void>;
}
