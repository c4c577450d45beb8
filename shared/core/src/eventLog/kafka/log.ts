/**
 * The Kafka event log (kafkajs 2.2.4): the distributed mode's adapter. It passes the same
 * contract suite as the in-process one (contract.ts) against a real broker.
 *
 * Delivery is at-least-once: a consumer commits a chunk's offsets (last + 1) only after
 * handle() resolved; when handle() throws, the same chunk is retried in place after a
 * back-off, heartbeating so the group keeps the partition, and is never committed.
 *
 * @example
 * const log = createKafkaEventLog({ brokers: ['127.0.0.1:9092'], clientId: 'enricher' });
 * await log.ensureTopics(topicSpecs());
 * const consumer = await log.consume({ groupId: 'enricher', topics: [TOPICS.requests], handle });
 */
import { randomUUID } from 'node:crypto';
import { CompressionTypes, Kafka, type Admin, type Consumer, type Producer } from 'kafkajs';
import type { CompactedReadOptions, CompactedReader, ConsumeOptions, EventLog, LogConsumer, OutgoingMessage, RangeReadOptions, RangeReadResult } from '../../eventLog.ts';
import type { TopicSpec } from '../../topics.ts';
import { positive } from '../numberOptions.ts';
import { checkRangeOptions } from '../rangeOptions.ts';
import { KAFKA_LOG_LEVELS, kafkaLogCreator, type KafkaClientLogEntry, type KafkaLogLevelName } from './clientLog.ts';
import { KafkaCompactedReader } from './compactedReader.ts';
import { KafkaLogConsumer, type Settings } from './groupConsumer.ts';
import { connectProducer, sendInRequests } from './producer.ts';
import { KafkaRangeReader, type RangePart } from './rangeReader.ts';

export interface KafkaConsumerTuning {
  /** Group session timeout; the broker's group.min.session.timeout.ms (default 6000) bounds it below. Default 30000. */
  sessionTimeoutMs?: number;
  /** How long the group waits for members to rejoin during a rebalance. Default 60000. */
  rebalanceTimeoutMs?: number;
  /** Default 3000; keep it well under sessionTimeoutMs. */
  heartbeatIntervalMs?: number;
  /** Longest a fetch waits on the broker for new data: also how often an idle consumer reports a poll. Default 500. */
  maxWaitTimeInMs?: number;
  /** How long consume() waits for the first group join before it gives up. Default 60000. */
  joinTimeoutMs?: number;
}

export interface KafkaEventLogOptions {
  brokers: string[];
  clientId: string;
  /** Receives kafkajs's own log lines at `logLevel` and above. Default: one line each on stderr. */
  log?: (entry: KafkaClientLogEntry) => void;
  /** Default 'error': kafkajs is chatty at info (every join, every connect). */
  logLevel?: KafkaLogLevelName;
  /** Default 'none'; lz4/snappy/zstd need extra codec packages in kafkajs. */
  compression?: 'none' | 'gzip';
  /** Idempotent producer (acks -1, one request in flight per broker). Default true. */
  idempotent?: boolean;
  /** Default 3000. */
  connectionTimeoutMs?: number;
  /** Default 30000. */
  requestTimeoutMs?: number;
  consumer?: KafkaConsumerTuning;
  /** Messages handed to one handle() call when the consumer does not say. Default 1000. */
  defaultMaxBatchSize?: number;
  /** First wait before a failed chunk is offered again; doubles per failure. Default 200 ms. */
  retryBackoffMs?: number;
  /** Longest wait between attempts of a failing chunk. Default 5000 ms (must stay under the session timeout: we heartbeat between attempts). */
  maxRetryBackoffMs?: number;
}

/**
 * Creates a Kafka-backed event log. Connections open lazily on first use, so this is
 * synchronous and a broker that is down shows up as a clear error from the first call.
 */
export function createKafkaEventLog(opts: KafkaEventLogOptions): EventLog {
  return new KafkaEventLog(opts);
}

/** For consumers with batchWaitMs: a fetch returns once this much is there (or the wait is over). */
const FILL_MIN_BYTES = 512 * 1024;
const FILL_MAX_BYTES_PER_PARTITION = 8 * 1024 * 1024;

class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  private clusterId: Promise<string> | null = null;

  epoch(): Promise<string> {
    this.clusterId ??= this.admin().then(async (admin) => `kafka-${(await admin.describeCluster()).clusterId}`);
    // A failure is not cached: the next call asks again.
    this.clusterId.catch(() => (this.clusterId = null));
    return this.clusterId;
  }
  private readonly kafka: Kafka;
  private readonly settings: Settings;
  private readonly compression: CompressionTypes;
  private readonly idempotent: boolean;
  private producerReady: Promise<Producer> | null = null;
  private adminReady: Promise<Admin> | null = null;
  private readonly consumers = new Set<KafkaLogConsumer>();
  private readonly readers = new Set<KafkaCompactedReader>();
  private readonly rangeReaders = new Set<KafkaRangeReader>();
  private closed = false;

  constructor(private readonly opts: KafkaEventLogOptions) {
    if (!Array.isArray(opts.brokers) || opts.brokers.length === 0) throw new Error('createKafkaEventLog: brokers is empty');
    if (!opts.clientId) throw new Error('createKafkaEventLog: clientId is required');
    const c = opts.consumer ?? {};
    this.settings = {
      sessionTimeout: positive('consumer.sessionTimeoutMs', c.sessionTimeoutMs ?? 30_000),
      rebalanceTimeout: positive('consumer.rebalanceTimeoutMs', c.rebalanceTimeoutMs ?? 60_000),
      heartbeatInterval: positive('consumer.heartbeatIntervalMs', c.heartbeatIntervalMs ?? 3_000),
      maxWaitTimeInMs: positive('consumer.maxWaitTimeInMs', c.maxWaitTimeInMs ?? 500),
      joinTimeoutMs: positive('consumer.joinTimeoutMs', c.joinTimeoutMs ?? 60_000),
      defaultMaxBatchSize: positive('defaultMaxBatchSize', opts.defaultMaxBatchSize ?? 1000),
      retryBackoffMs: positive('retryBackoffMs', opts.retryBackoffMs ?? 200),
      maxRetryBackoffMs: positive('maxRetryBackoffMs', opts.maxRetryBackoffMs ?? 5000),
    };
    this.compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.idempotent = opts.idempotent ?? true;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      connectionTimeout: opts.connectionTimeoutMs ?? 3000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      logLevel: KAFKA_LOG_LEVELS[opts.logLevel ?? 'error'],
      logCreator: kafkaLogCreator(opts.log),
    });
  }

  async produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    await sendInRequests(await this.producer(), topic, messages, this.compression);
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    this.assertOpen();
    if (options.topics.length === 0) throw new Error('consume: topics is empty');
    const consumer = new KafkaLogConsumer(this.newConsumer(options.groupId, options.batchWaitMs), options, this.settings);
    this.consumers.add(consumer);
    consumer.stopped.then(() => this.consumers.delete(consumer)).catch(() => undefined);
    await consumer.start();
    return consumer;
  }

  async readCompacted(topic: string, options: CompactedReadOptions): Promise<CompactedReader> {
    this.assertOpen();
    const admin = await this.admin();
    let ends: Map<number, bigint>;
    try {
      const offsets = await this.whileLeadersMove(admin, (a) => a.fetchTopicOffsets(topic));
      // Only partitions holding records matter; `high` is one past the last record.
      ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
    } catch (err) {
      if (!isUnknownTopic(err)) throw err;
      ends = new Map();
    }
    const groupId = `${this.opts.clientId}.compacted.${randomUUID()}`;
    const reader = new KafkaCompactedReader(this.newConsumer(groupId), topic, ends, options, async () => {
      // The throwaway group never committed; delete its remains so they do not pile up on the broker.
      await admin.deleteGroups([groupId]).catch(() => undefined);
    });
    this.readers.add(reader);
    reader.stopped.then(() => this.readers.delete(reader)).catch(() => undefined);
    await reader.start();
    return reader;
  }

  async readRange(topic: string, options: RangeReadOptions): Promise<RangeReadResult> {
    this.assertOpen();
    const { sinceMs, partitions } = checkRangeOptions(options);
    const nothing = (): RangeReadResult => ({ ends: new Map(), records: 0 });
    const admin = await this.admin();
    // Asking for offsets of a missing topic would create it (auto.create.topics.enable); a listing asks for no topic.
    if (!(await admin.listTopics()).includes(topic)) return nothing();
    let highs: Array<{ partition: number; high: string; low: string }>;
    let starts: Array<{ partition: number; offset: string }>;
    try {
      // Ends first: a start found later may lie past them (records produced in between), and is then clamped.
      highs = await this.whileLeadersMove(admin, (a) => a.fetchTopicOffsets(topic));
      starts = await this.whileLeadersMove(admin, (a) => a.fetchTopicOffsetsByTimestamp(topic, sinceMs));
    } catch (err) {
      if (!isUnknownTopic(err)) throw err;
      return nothing(); // deleted since the listing
    }
    const ends = new Map<number, bigint>();
    const plan = new Map<number, RangePart>();
    const others: number[] = [];
    for (const o of highs) {
      const end = BigInt(o.high);
      if ((partitions !== null && !partitions.has(o.partition)) || end === 0n) {
        others.push(o.partition);
        continue;
      }
      ends.set(o.partition, end);
      // No record at or after sinceMs: Kafka says -1, kafkajs swaps in the high watermark of its own (later) look-up.
      const found = BigInt(starts.find((s) => s.partition === o.partition)?.offset ?? '-1');
      const low = BigInt(o.low);
      const start = found < 0n ? end : found < low ? low : found;
      if (start < end) plan.set(o.partition, { start, end });
      else others.push(o.partition);
    }
    if (plan.size === 0) return { ends, records: 0 };

    const groupId = `${this.opts.clientId}.range.${randomUUID()}`;
    const reader = new KafkaRangeReader(this.newConsumer(groupId), topic, plan, others, options.onMessage, async () => {
      // The throwaway group never committed; delete its remains so they do not pile up on the broker.
      await admin.deleteGroups([groupId]).catch(() => undefined);
    });
    this.rangeReaders.add(reader);
    reader.stopped.then(() => this.rangeReaders.delete(reader)).catch(() => undefined);
    const records = await reader.read();
    return { ends, records };
  }

  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    this.assertOpen();
    const admin = await this.admin();
    const out = new Map<number, bigint>();
    try {
      const [found] = await admin.fetchOffsets({ groupId, topics: [topic] });
      // kafkajs answers -1 for a partition the group never committed.
      for (const p of found?.partitions ?? []) if (BigInt(p.offset) >= 0n) out.set(p.partition, BigInt(p.offset));
    } catch (err) {
      if (!isUnknownTopic(err)) throw err;
    }
    return out;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.assertOpen();
    if (specs.length === 0) return;
    const admin = await this.admin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (err) {
      // Another process created them in between: that is what we wanted.
      if (!isAlreadyExists(err)) throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.readers].map((r) => r.stop()));
    await Promise.all([...this.rangeReaders].map((r) => r.stop(`readRange stopped before it finished: the event log was closed`)));
    const producer = this.producerReady;
    const admin = this.adminReady;
    await Promise.all([
      producer?.then((p) => p.disconnect()).catch(() => undefined),
      admin?.then((a) => a.disconnect()).catch(() => undefined),
    ]);
  }

  private newConsumer(groupId: string, batchWaitMs?: number): Consumer {
    const s = this.settings;
    const filling = batchWaitMs !== undefined && batchWaitMs > 0;
    return this.kafka.consumer({
      groupId,
      sessionTimeout: s.sessionTimeout,
      rebalanceTimeout: s.rebalanceTimeout,
      heartbeatInterval: s.heartbeatInterval,
      // A consumer that wants full batches lets the broker hold a fetch until enough bytes
      // have arrived or batchWaitMs has passed, and takes more per partition per fetch.
      maxWaitTimeInMs: filling ? batchWaitMs : s.maxWaitTimeInMs,
      ...(filling ? { minBytes: FILL_MIN_BYTES, maxBytesPerPartition: FILL_MAX_BYTES_PER_PARTITION } : {}),
      allowAutoTopicCreation: true,
    });
  }

  private producer(): Promise<Producer> {
    if (this.producerReady === null) {
      this.producerReady = connectProducer(this.kafka, this.idempotent);
      this.producerReady.catch(() => {
        this.producerReady = null; // try again on the next call
      });
    }
    return this.producerReady;
  }

  private admin(): Promise<Admin> {
    if (this.adminReady === null) {
      const admin = this.kafka.admin();
      this.adminReady = admin.connect().then(() => admin);
      this.adminReady.catch(() => {
        this.adminReady = null;
      });
    }
    return this.adminReady;
  }

  /**
   * Asks again, for up to 10 s with a growing wait, while the broker answers that partition
   * leadership is moving (seen right after a topic is created, on a loaded machine). kafkajs
   * gives up at once on that answer and keeps its cached leaders, so each retry asks through a
   * fresh admin client, which reads the cluster's metadata anew. Any other error, or the same
   * one after 10 s, is thrown.
   */
  private async whileLeadersMove<T>(admin: Admin, ask: (admin: Admin) => Promise<T>): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (let attempt = 1; ; attempt++) {
      // The cached client first; after a refusal, a fresh one each time.
      const client = attempt === 1 ? admin : this.kafka.admin();
      try {
        if (client !== admin) await client.connect();
        return await ask(client);
      } catch (err) {
        const type = (err as { type?: string } | null)?.type ?? '';
        if (!LEADERSHIP_MOVING.has(type) || Date.now() > deadline) throw err;
      } finally {
        if (client !== admin) await client.disconnect().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event log is closed');
  }
}

/** Partition leadership changing (a topic just created, a broker restarting): worth asking again. */
const LEADERSHIP_MOVING = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER']);

function isUnknownTopic(err: unknown): boolean {
  const e = err as { type?: string; message?: string } | null;
  return e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition|unknown topic/i.test(e?.message ?? '');
}

function isAlreadyExists(err: unknown): boolean {
  const e = err as { type?: string; errors?: Array<{ type?: string }> } | null;
  if (e?.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS');
}
