/**
 * Consumer groups of the in-process log: members share a topic's partitions (partition p to
 * the (p mod n)-th member), a group's committed offsets advance only after handle() resolved,
 * and a failed batch is retried in place, with back-off, until it succeeds or the member stops.
 *
 * @example
 * const consumer = new MemoryConsumer(log, group, [topic], { groupId: 'enricher', topics: [topic.name], handle });
 * await consumer.stop();
 */
import type { ConsumeOptions, ConsumerStatus, LogBatch, LogConsumer } from '../../eventLog.ts';
import { backoffDelay, createWakeableSleep, retryInPlace, type WakeableSleep } from '../../retry.ts';
import { reportBatchFailure } from '../batchFailure.ts';
import { positiveInt } from '../numberOptions.ts';
import type { Partition, Topic } from './partition.ts';

/** What a member needs of the log it belongs to. */
export interface ConsumerHost {
  readonly now: () => number;
  readonly defaultMaxBatchSize: number;
  readonly retryBackoffMs: number;
  readonly maxRetryBackoffMs: number;
  /** After a commit: lets the log drop what every group has read. */
  trimCommitted(t: Topic, p: Partition): void;
}

export class Group {
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

interface Assigned {
  topic: Topic;
  partition: Partition;
}

export class MemoryConsumer implements LogConsumer {
  private running = true;
  /** Lanes waiting on new records right now. */
  private idleLanes = 0;
  private lastPollAt = 0;
  private lastCommitAt = 0;
  private failures = 0;
  private assigned: Assigned[] = [];
  private assignedGeneration = -1;
  private cursor = 0;
  /** Where this member starts in partitions its group has never committed (fromBeginning false: the end at subscribe time). */
  private readonly startAt = new Map<Partition, number>();
  /**
   * One per lane (ConsumeOptions.concurrency: batches of that many partitions handled at once,
   * never two of one partition): new records (or a rebalance) end a lane's idle or
   * batch-filling wait.
   */
  private readonly laneWaits: WakeableSleep[];
  /** stop(): cuts a back-off short, which new records do not. */
  private readonly stopping = new AbortController();
  private readonly maxBatchSize: number;
  readonly done: Promise<void>;

  constructor(
    private readonly log: ConsumerHost,
    private readonly group: Group,
    private readonly topics: Topic[],
    private readonly options: ConsumeOptions,
  ) {
    this.maxBatchSize = positiveInt('maxBatchSize', options.maxBatchSize ?? log.defaultMaxBatchSize);
    this.laneWaits = Array.from({ length: Math.max(1, Math.trunc(options.concurrency ?? 1)) }, () => createWakeableSleep());
    const fromBeginning = options.fromBeginning ?? true;
    for (const t of topics) {
      t.groups.add(group);
      t.listeners.add(this);
      if (!fromBeginning) for (const p of t.partitions) this.startAt.set(p, p.nextOffset);
    }
    group.members.push(this);
    group.generation++;
    group.wakeAll();
    this.done = this.run();
  }

  status(): ConsumerStatus {
    let lag = 0;
    for (const { partition } of this.assignment()) lag += partition.nextOffset - this.position(partition);
    return {
      // An idle loop is waiting on new records, which counts as polling right now.
      lastPollAt: this.idleLanes > 0 ? this.log.now() : this.lastPollAt,
      lastCommitAt: this.lastCommitAt,
      failures: this.failures,
      lag,
      running: this.running,
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wake();
    await this.done;
  }

  wake(): void {
    for (const w of this.laneWaits) w.wake();
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

  private async run(): Promise<void> {
    try {
      const lanes = await Promise.allSettled(this.laneWaits.map((wait) => this.lane(wait)));
      const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      this.running = false;
      this.idleLanes = 0;
      const i = this.group.members.indexOf(this);
      if (i >= 0) this.group.members.splice(i, 1);
      for (const t of this.topics) t.listeners.delete(this);
      this.group.generation++;
      this.group.wakeAll();
    }
  }

  private async lane(wait: WakeableSleep): Promise<void> {
    try {
      while (this.running) {
        const work = this.nextBatch();
        this.lastPollAt = this.log.now();
        const waitMore = work === null ? 0 : this.fillWait(work.batch);
        if (waitMore > 0) {
          // Let a small batch fill up (batchWaitMs), as a Kafka fetch with fetch.min.bytes would.
          await wait.sleep(waitMore);
          continue;
        }
        if (work === null) {
          this.idleLanes++;
          await wait.sleep();
          this.idleLanes--;
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
        // Another member (or lane) may have been waiting for this partition (after a rebalance).
        if (this.group.members.length > 1 || this.laneWaits.length > 1) this.group.wakeAll();
      }
    } catch (err) {
      // One lane failing stops the others: the consumer is one thing.
      this.running = false;
      this.wake();
      throw err;
    }
  }

  /** Offers one batch until handle() resolves (then commits) or the consumer stops (then commits nothing). */
  private async handleUntilDone(batch: LogBatch, commit: () => void): Promise<void> {
    await retryInPlace(
      async () => {
        await this.options.handle(batch);
        commit();
        this.failures = 0;
      },
      {
        signal: this.stopping.signal,
        onFailure: (err) => {
          this.failures++;
          reportBatchFailure(this.options, err, batch);
          return this.failures;
        },
        delayMs: (failures) => backoffDelay(failures, this.log.retryBackoffMs, this.log.maxRetryBackoffMs),
        beforeRetry: () => {
          this.lastPollAt = this.log.now();
          return true;
        },
      },
    );
  }
}
