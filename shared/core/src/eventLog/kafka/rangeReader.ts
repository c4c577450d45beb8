/**
 * A range read on Kafka: a throwaway consumer group (kafkajs has no group-less consumer) that
 * seeks each partition to the offset of `sinceMs`, delivers up to the end offsets taken when
 * the read started, and then leaves and deletes its group. It never commits.
 *
 * @example
 * const reader = new KafkaRangeReader(kafka.consumer({ groupId }), topic, plan, others, onMessage, cleanup);
 * const records = await reader.read();
 */
import type { Consumer } from 'kafkajs';
import type { LogMessage } from '../../eventLog.ts';
import { toLogMessage } from './records.ts';

/** One partition to read: offsets start (inclusive) to end (exclusive), start < end. */
export interface RangePart {
  start: bigint;
  end: bigint;
}

export class KafkaRangeReader {
  readonly stopped: Promise<void>;
  private readonly done: Promise<number>;
  private resolveDone!: (records: number) => void;
  private rejectDone!: (err: Error) => void;
  private resolveStopped!: () => void;
  private stopPromise: Promise<void> | null = null;
  /** Partition -> next offset to deliver, for the partitions not yet at their end. */
  private readonly next = new Map<number, bigint>();
  private records = 0;
  private failure: Error | null = null;

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly plan: ReadonlyMap<number, RangePart>,
    /** The topic's other partitions: paused from the start, never fetched. */
    private readonly others: number[],
    private readonly onMessage: (message: LogMessage) => void,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => undefined);
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
    for (const [partition, part] of plan) this.next.set(partition, part.start);
  }

  /** Resolves with the records delivered once every partition reached its end and the group is gone. */
  async read(): Promise<number> {
    const { consumer, topic } = this;
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error);
    });
    // A batch left empty by filtering (control records) never reaches eachBatch, yet moves the position.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.topic === topic) this.advance(e.payload.partition, BigInt(e.payload.lastOffset));
    });
    try {
      await consumer.connect();
      // fromBeginning: should the seek be lost (a restart after a crash), reading again from the
      // earliest record and skipping what was delivered is still right.
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          const next = this.next.get(batch.partition);
          if (batch.topic !== topic || next === undefined || this.failure !== null) return;
          const end = (this.plan.get(batch.partition) as RangePart).end;
          let position = next;
          for (const m of batch.messages) {
            const offset = BigInt(m.offset);
            // Only [next, end): nothing before sinceMs, nothing twice, nothing produced after the read started.
            if (offset < position || offset >= end) continue;
            try {
              this.onMessage(toLogMessage(batch.topic, batch.partition, m));
            } catch (err) {
              // The caller's own failure ends the read with it; retrying the batch would repeat it.
              this.fail(err instanceof Error ? err : new Error(String(err)));
              return;
            }
            this.records++;
            position = offset + 1n;
          }
          this.next.set(batch.partition, position);
          this.advance(batch.partition, BigInt(batch.lastOffset()));
        },
      });
      // kafkajs takes seeks only after run(); a fetch answered before they apply is dropped by kafkajs.
      for (const [partition, part] of this.plan) consumer.seek({ topic, partition, offset: String(part.start) });
      if (this.others.length > 0) consumer.pause([{ topic, partitions: this.others }]);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    return this.done;
  }

  /** Ends the read; a read not finished yet rejects. */
  stop(reason = `readRange(${this.topic}) stopped before it finished`): Promise<void> {
    if (this.stopPromise === null) {
      this.stopPromise = this.consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => this.cleanup())
        .finally(() => {
          if (this.failure !== null) this.rejectDone(this.failure);
          else if (this.next.size > 0) this.rejectDone(new Error(reason));
          else this.resolveDone(this.records);
          this.resolveStopped();
        });
    }
    return this.stopPromise;
  }

  /** The consumer has seen the partition up to `lastOffset` (inclusive). */
  private advance(partition: number, lastOffset: bigint): void {
    const part = this.plan.get(partition);
    if (part === undefined || !this.next.has(partition) || lastOffset + 1n < part.end) return;
    this.next.delete(partition);
    this.consumer.pause([{ topic: this.topic, partitions: [partition] }]);
    // Not from inside eachBatch: disconnect waits for the batch in hand, which would wait for us.
    if (this.next.size === 0) setImmediate(() => void this.stop());
  }

  private fail(err: Error): void {
    this.failure ??= err;
    void this.stop();
  }
}
