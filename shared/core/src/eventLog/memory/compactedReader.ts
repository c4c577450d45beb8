/**
 * A compacted reader of the in-process log: on start, the latest record per key of every
 * partition; then (unless follow is false) every new record, delivered outside the
 * producer's call stack.
 *
 * @example
 * const reader = new MemoryCompactedReader(topic, { onMessage: (m) => apply(m) });
 * reader.start();
 */
import type { CompactedReadOptions, CompactedReader, LogMessage } from '../../eventLog.ts';
import type { Topic } from './partition.ts';

export class MemoryCompactedReader implements CompactedReader {
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
