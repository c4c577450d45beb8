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
import {
  CompressionTypes,
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer,
} from 'kafkajs';
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
import type { TopicSpec } from '../topics.ts';

export type KafkaLogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** One line of kafkajs's own log, handed to the `log` option. */
export interface KafkaClientLogEntry {
  level: Exclude<KafkaLogLevelName, 'nothing'>;
  /** kafkajs component, e.g. Connection, Consumer, Producer. */
  namespace: string;
  message: string;
  extra: Record<string, unknown>;
}

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
/** Upper bound on the bytes of one produce request (the broker's default limit is 1 MiB a batch). */
const MAX_REQUEST_BYTES = 768 * 1024;
/** For consumers with batchWaitMs: a fetch returns once this much is there (or the wait is over). */
const FILL_MIN_BYTES = 512 * 1024;
const FILL_MAX_BYTES_PER_PARTITION = 8 * 1024 * 1024;

function approxSize(m: OutgoingMessage): number {
  let n = 32 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  if (m.headers) for (const k in m.headers) n += k.length + (m.headers[k]?.length ?? 0) + 8;
  return n;
}

export function createKafkaEventLog(opts: KafkaEventLogOptions): EventLog {
  return new KafkaEventLog(opts);
}

const LEVEL_NAMES: Record<number, Exclude<KafkaLogLevelName, 'nothing'>> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};
const LEVELS: Record<KafkaLogLevelName, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

function defaultLog(e: KafkaClientLogEntry): void {
  const extra = Object.keys(e.extra).length ? ` ${safeJson(e.extra)}` : '';
  process.stderr.write(`kafkajs ${e.level} [${e.namespace}] ${e.message}${extra}\n`);
}

interface Settings {
  sessionTimeout: number;
  rebalanceTimeout: number;
  heartbeatInterval: number;
  maxWaitTimeInMs: number;
  joinTimeoutMs: number;
  defaultMaxBatchSize: number;
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
}

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
  private closed = false;

  constructor(private readonly opts: KafkaEventLogOptions) {
    if (!Array.isArray(opts.brokers) || opts.brokers.length === 0) throw new Error('createKafkaEventLog: brokers is empty');
    if (!opts.clientId) throw new Error('createKafkaEventLog: clientId is required');
    const sink = opts.log ?? defaultLog;
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
      logLevel: LEVELS[opts.logLevel ?? 'error'],
      logCreator: () => (entry: LogEntry) => {
        const { message, timestamp: _ts, logger: _logger, ...extra } = entry.log;
        sink({ level: LEVEL_NAMES[entry.level] ?? 'error', namespace: entry.namespace, message: String(message), extra });
      },
    });
  }

  async produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    const producer = await this.producer();
    // kafkajs sends all of a call's messages for one partition as one record batch, and the
    // broker refuses a batch over message.max.bytes (1 MiB by default): cut big calls into
    // requests of at most MAX_REQUEST_BYTES, sent one after another to keep per-key order.
    let start = 0;
    while (start < messages.length) {
      let bytes = 0;
      let end = start;
      while (end < messages.length && (end === start || bytes < MAX_REQUEST_BYTES)) {
        bytes += approxSize(messages[end]!);
        end++;
      }
      await producer.send({
        topic,
        acks: -1,
        compression: this.compression,
        messages: messages.slice(start, end).map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
      });
      start = end;
    }
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
      const offsets = await admin.fetchTopicOffsets(topic);
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
      const producer = this.kafka.producer({
        idempotent: this.idempotent,
        maxInFlightRequests: this.idempotent ? 1 : undefined,
        allowAutoTopicCreation: true,
        // Java-compatible murmur2: the same key lands on the same partition as from any other Kafka client.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.producerReady = producer.connect().then(() => producer);
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

  private assertOpen(): void {
    if (this.closed) throw new Error('the event log is closed');
  }
}

class KafkaLogConsumer implements LogConsumer {
  private lastPollAt = 0;
  private lastCommitAt = 0;
  private failures = 0;
  private running = false;
  private stopping = false;
  private crash: Error | null = null;
  /** Lag per assigned partition ("topic\0partition"), from the high watermark of the last batch. */
  private readonly lag = new Map<string, number>();
  private interruptBackoff: (() => void) | null = null;
  private stopPromise: Promise<void> | null = null;
  private readonly maxBatchSize: number;
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumeOptions,
    private readonly settings: Settings,
  ) {
    this.maxBatchSize = positive('maxBatchSize', options.maxBatchSize ?? settings.defaultMaxBatchSize);
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
  }

  async start(): Promise<void> {
    const { consumer, options } = this;
    // Every fetch, empty ones too (they come every maxWaitTimeInMs), proves the loop is alive.
    consumer.on(consumer.events.FETCH, () => {
      this.lastPollAt = Date.now();
    });
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const assigned = new Set<string>();
        for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
          for (const p of partitions) assigned.add(`${topic}\0${p}`);
        }
        for (const key of [...this.lag.keys()]) if (!assigned.has(key)) this.lag.delete(key);
        for (const key of assigned) if (!this.lag.has(key)) this.lag.set(key, 0);
        resolve();
      });
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart) {
          this.crash = e.payload.error;
          this.running = false;
          reject(e.payload.error);
        }
      });
    });
    joined.catch(() => undefined);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
      this.running = true;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, Math.trunc(this.options.concurrency ?? 1)),
        eachBatch: (payload) => this.eachBatch(payload),
      });
      // Resolve only once the group has assigned partitions, so "consume, then produce" is not racy.
      await withTimeout(joined, this.settings.joinTimeoutMs, `consumer group ${options.groupId} did not join within ${this.settings.joinTimeoutMs} ms`);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  status(): ConsumerStatus {
    let lag: number | null = null;
    for (const v of this.lag.values()) lag = (lag ?? 0) + v;
    return {
      lastPollAt: this.lastPollAt,
      lastCommitAt: this.lastCommitAt,
      failures: this.failures,
      lag,
      running: this.running && this.crash === null,
    };
  }

  stop(): Promise<void> {
    if (this.stopPromise === null) {
      this.stopping = true;
      this.interruptBackoff?.();
      this.stopPromise = this.consumer
        .disconnect()
        .catch(() => undefined) // a broker that is already gone leaves nothing to clean up
        .finally(() => {
          this.running = false;
          this.resolveStopped();
        });
    }
    return this.stopPromise;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const high = BigInt(batch.highWatermark);
    const lagKey = `${topic}\0${partition}`;
    for (let i = 0; i < batch.messages.length; i += this.maxBatchSize) {
      if (this.stopping || !isRunning() || isStale()) return;
      const chunk: LogBatch = {
        topic,
        partition,
        messages: batch.messages.slice(i, i + this.maxBatchSize).map((m) => toLogMessage(topic, partition, m)),
      };
      const last = (chunk.messages[chunk.messages.length - 1] as LogMessage).offset;
      if (!(await this.handleUntilDone(chunk, heartbeat, isRunning, isStale))) return;
      const next = BigInt(last) + 1n;
      // The payload's commit goes straight to the group; consumer.commitOffsets is a no-op once stop() began,
      // and a batch finished during stop must still be committed.
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next.toString() }] }] });
      resolveOffset(last);
      this.lastCommitAt = Date.now();
      this.failures = 0;
      this.lag.set(lagKey, Number(high > next ? high - next : 0n));
      await heartbeat();
    }
  }

  /** true once handle() resolved; false when the consumer stops or loses the partition first (nothing to commit). */
  private async handleUntilDone(
    chunk: LogBatch,
    heartbeat: () => Promise<void>,
    isRunning: () => boolean,
    isStale: () => boolean,
  ): Promise<boolean> {
    for (;;) {
      try {
        await this.options.handle(chunk);
        return true;
      } catch (err) {
        this.failures++;
        try {
          this.options.onError?.(err, chunk);
        } catch {
          // A failing error callback must not take the consumer down; the failure is already counted.
        }
        if (this.stopping) return false;
        const wait = Math.min(this.settings.maxRetryBackoffMs, this.settings.retryBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        await new Promise<void>((res) => {
          const timer = setTimeout(res, wait);
          this.interruptBackoff = () => {
            clearTimeout(timer);
            res();
          };
        });
        this.interruptBackoff = null;
        if (this.stopping || !isRunning() || isStale()) return false;
        this.lastPollAt = Date.now();
        // Keeps the session alive while we retry; throws (and so leaves eachBatch) on a rebalance.
        await heartbeat();
      }
    }
  }
}

class KafkaCompactedReader implements CompactedReader {
  readonly ready: Promise<void>;
  readonly stopped: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private resolveStopped!: () => void;
  private stopPromise: Promise<void> | null = null;
  private isReady = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    /** partition -> offset one past the last record present when reading started. */
    private readonly remaining: Map<number, bigint>,
    private readonly options: CompactedReadOptions,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => undefined);
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
  }

  async start(): Promise<void> {
    const { consumer } = this;
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.rejectReady(e.payload.error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) this.options.onMessage(toLogMessage(batch.topic, batch.partition, m));
          const end = this.remaining.get(batch.partition);
          if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) {
            this.remaining.delete(batch.partition);
            this.checkReady();
          }
        },
      });
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.checkReady();
  }

  stop(): Promise<void> {
    if (this.stopPromise === null) {
      this.stopPromise = this.consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => this.cleanup())
        .finally(() => {
          if (!this.isReady) this.rejectReady(new Error(`readCompacted(${this.topic}) stopped before it was ready`));
          this.resolveStopped();
        });
    }
    return this.stopPromise;
  }

  private checkReady(): void {
    if (this.isReady || this.remaining.size > 0) return;
    this.isReady = true;
    this.resolveReady();
    // Not from inside eachBatch: disconnect waits for the batch in hand, which would wait for us.
    if (this.options.follow === false) setImmediate(() => void this.stop());
  }
}

function toLogMessage(topic: string, partition: number, m: KafkaMessage): LogMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    timestamp: Number(m.timestamp),
    key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
    value: m.value,
    headers: headersToStrings(m.headers),
  };
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, raw] of Object.entries(headers)) {
    // A repeated header keeps its last value, as a Record can hold only one.
    const v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (v !== undefined) out[name] = typeof v === 'string' ? v : v.toString('utf8');
  }
  return out;
}

function isUnknownTopic(err: unknown): boolean {
  const e = err as { type?: string; message?: string } | null;
  return e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition|unknown topic/i.test(e?.message ?? '');
}

function isAlreadyExists(err: unknown): boolean {
  const e = err as { type?: string; errors?: Array<{ type?: string }> } | null;
  if (e?.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS');
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a number > 0, got ${v}`);
  return v;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
