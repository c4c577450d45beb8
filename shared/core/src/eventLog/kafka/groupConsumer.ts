/**
 * A member of a Kafka consumer group: handles chunks of at most maxBatchSize, commits a
 * chunk's offsets (last + 1) only after handle() resolved, and retries a failed chunk in
 * place after a back-off, heartbeating so the group keeps the partition; a chunk is never
 * skipped. Reports polls, commits, failures and lag for health checks.
 *
 * @example
 * const member = new KafkaLogConsumer(kafka.consumer({ groupId }), { groupId, topics, handle }, settings);
 * await member.start(); // resolves once the group assigned partitions
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { ConsumeOptions, ConsumerStatus, LogBatch, LogConsumer, LogMessage } from '../../eventLog.ts';
import { withDeadline } from '../../deadline.ts';
import { backoffDelay, retryInPlace } from '../../retry.ts';
import { reportBatchFailure } from '../batchFailure.ts';
import { positive } from '../numberOptions.ts';
import { toLogMessage } from './records.ts';

/** The log's consumer settings, checked and defaulted once. */
export interface Settings {
  sessionTimeout: number;
  rebalanceTimeout: number;
  heartbeatInterval: number;
  maxWaitTimeInMs: number;
  joinTimeoutMs: number;
  defaultMaxBatchSize: number;
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
}

export class KafkaLogConsumer implements LogConsumer {
  private lastPollAt = 0;
  private lastCommitAt = 0;
  private failures = 0;
  private running = false;
  /** stop(): no chunk is started or retried after it, and it cuts a back-off short. */
  private readonly stopping = new AbortController();
  private crash: Error | null = null;
  /** Lag per assigned partition ("topic\0partition"), from the high watermark of the last batch. */
  private readonly lag = new Map<string, number>();
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
      await withDeadline(joined, this.settings.joinTimeoutMs, `consumer group ${options.groupId} did not join within ${this.settings.joinTimeoutMs} ms`);
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
      this.stopping.abort();
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
      if (this.stopping.signal.aborted || !isRunning() || isStale()) return;
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
  private handleUntilDone(
    chunk: LogBatch,
    heartbeat: () => Promise<void>,
    isRunning: () => boolean,
    isStale: () => boolean,
  ): Promise<boolean> {
    return retryInPlace(() => this.options.handle(chunk), {
      signal: this.stopping.signal,
      onFailure: (err) => {
        this.failures++;
        reportBatchFailure(this.options, err, chunk);
        return this.failures;
      },
      delayMs: (failures) => backoffDelay(failures, this.settings.retryBackoffMs, this.settings.maxRetryBackoffMs),
      beforeRetry: async () => {
        if (!isRunning() || isStale()) return false;
        this.lastPollAt = Date.now();
        // Keeps the session alive while we retry; throws (and so leaves eachBatch) on a rebalance.
        await heartbeat();
        return true;
      },
    });
  }
}
