/**
 * A range read of the in-process log: in each partition, from the first record appended at or
 * after `sinceMs` up to the end the partition had when the read started, every record (not
 * compacted). Long reads hand the event loop back now and then.
 *
 * @example
 * const { records, ends } = await readTopicRange(topic, { sinceMs, partitions: null }, onMessage, () => closed);
 */
import type { LogMessage, RangeReadResult } from '../../eventLog.ts';
import type { CheckedRangeOptions } from '../rangeOptions.ts';
import type { Partition, Topic } from './partition.ts';

/** Records delivered between two yields to the event loop: the embedded pipeline shares this process. */
const RECORDS_PER_TURN = 10_000;

export async function readTopicRange(
  t: Topic,
  { sinceMs, partitions }: CheckedRangeOptions,
  onMessage: (message: LogMessage) => void,
  isClosed: () => boolean,
): Promise<RangeReadResult> {
  const ends = new Map<number, bigint>();
  // Every start and end is fixed before the first record is delivered: what onMessage produces is not read.
  const plan: Array<{ p: Partition; start: number; end: number }> = [];
  for (const p of t.partitions) {
    if ((partitions !== null && !partitions.has(p.index)) || p.nextOffset === 0) continue;
    ends.set(p.index, BigInt(p.nextOffset));
    const start = firstOffsetSince(p, sinceMs);
    if (start < p.nextOffset) plan.push({ p, start, end: p.nextOffset });
  }
  let records = 0;
  let turn = 0;
  for (const { p, start, end } of plan) {
    let position = start;
    while (position < end) {
      // By offset, not index: retention or compaction may have moved the entries during a yield.
      const i = p.indexAtOrAfter(position);
      const record = p.entries[i];
      const offset = p.offs[i];
      if (record === undefined || offset === undefined || offset >= end) break;
      onMessage(record);
      records++;
      position = offset + 1;
      if (++turn >= RECORDS_PER_TURN) {
        turn = 0;
        await new Promise<void>((res) => setImmediate(res));
        if (isClosed()) throw new Error('readRange stopped before it finished: the event log was closed');
      }
    }
  }
  return { ends, records };
}

/** Offset of the first live record appended at or after sinceMs (the end if none), as Kafka's offsets-for-times. */
function firstOffsetSince(p: Partition, sinceMs: number): number {
  // A scan, not a search: an injected clock may go backwards, and the first match is what Kafka gives.
  for (let i = p.head; i < p.entries.length; i++) {
    if ((p.entries[i] as LogMessage).timestamp >= sinceMs) return p.offs[i] as number;
  }
  return p.nextOffset;
}
