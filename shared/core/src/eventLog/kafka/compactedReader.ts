/**
 * A compacted reader on Kafka: a throwaway consumer group that reads the topic from the
 * beginning, is ready once it reached the end offsets taken when it started, and then
 * follows new records (or stops, with follow false). It never commits.
 *
 * @example
 * const reader = new KafkaCompactedReader(kafka.consumer({ groupId }), topic, ends, { onMessage }, cleanup);
 * await reader.start();
 * await reader.ready;
 */
import type { Consumer } from 'kafkajs';
import type { CompactedReadOptions, CompactedReader } from '../../eventLog.ts';
import { toLogMessage } from './records.ts';

export class KafkaCompactedReader implements CompactedReader {
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
