/**
 * Exactly-once rows from at-least-once delivery. Each insert carries a deduplication token
 * naming its (topic, partition, first..last offset); ClickHouse drops a block whose token
 * it has seen. That only helps if a replay re-creates the same ranges, so before each
 * insert the range is written to `sink_ranges`; after a crash, the first batch of a
 * partition is cut at that recorded range, so the repeated insert is exactly the one that
 * may already have landed.
 */
import type { Analytics } from '@ipwatch/store';

export interface OffsetRange {
  first: bigint;
  last: bigint;
}

export function dedupToken(topic: string, partition: number, range: OffsetRange): string {
  return `${topic}:${partition}:${range.first}-${range.last}`;
}

export interface InsertLedger {
  /**
   * Splits [first..last] of one partition into the ranges to insert, honouring a recorded
   * range on the first sight of a partition. An empty answer means all of it is stored.
   */
  plan(table: string, topic: string, partition: number, first: bigint, last: bigint): Promise<OffsetRange[]>;
  /** Records a range before it is inserted. */
  record(topic: string, partition: number, range: OffsetRange): Promise<void>;
}

export function createInsertLedger(analytics: Analytics): InsertLedger {
  const known = new Map<string, OffsetRange | null>();
  const storedThrough = new Map<string, bigint>();
  const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

  async function recorded(topic: string, partition: number): Promise<OffsetRange | null> {
    const key = keyOf(topic, partition);
    if (known.has(key)) return known.get(key)!;
    const rs = await analytics.client.query({
      query: `SELECT toString(first_offset) AS first, toString(last_offset) AS last FROM sink_ranges FINAL
              WHERE topic = {topic:String} AND partition = {partition:UInt32} LIMIT 1`,
      query_params: { topic, partition },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ first: string; last: string }>();
    const range = row ? { first: BigInt(row.first), last: BigInt(row.last) } : null;
    known.set(key, range);
    return range;
  }

  async function anyStored(table: string, partition: number, range: OffsetRange): Promise<boolean> {
    // table comes from the sink's own mapping list, never from input.
    const rs = await analytics.client.query({
      query: `SELECT count() AS n FROM ${table} WHERE kafka_partition = {p:UInt32} AND kafka_offset BETWEEN {a:UInt64} AND {b:UInt64}`,
      query_params: { p: partition, a: range.first.toString(), b: range.last.toString() },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    const [row] = await rs.json<{ n: number }>();
    return Number(row?.n ?? 0) > 0;
  }

  return {
    async plan(table, topic, partition, first, last) {
      const key = keyOf(topic, partition);
      const through = storedThrough.get(key);
      if (through !== undefined) {
        if (last <= through) return [];
        if (first <= through) first = through + 1n;
      }
      const prior = await recorded(topic, partition);
      // Only a replay starts exactly where the last recorded range started (the committed
      // offset of a range that may have been inserted without its commit).
      if (!prior || prior.first !== first) return [{ first, last }];
      if (prior.last <= last) {
        // Repeat that range exactly (same token: ClickHouse drops it if it landed), then go on.
        return prior.last === last ? [prior] : [prior, { first: prior.last + 1n, last }];
      }
      // The replay is shorter than the recorded insert, so no token can match. One insert is
      // one block, stored whole or not at all: if any row of it is there, all of it is, and
      // the offsets up to its end are skipped as they arrive.
      if (await anyStored(table, partition, prior)) {
        storedThrough.set(key, prior.last);
        return [];
      }
      return [{ first, last }];
    },
    async record(topic, partition, range) {
      known.set(keyOf(topic, partition), range);
      await analytics.client.insert({
        table: 'sink_ranges',
        values: [{ topic, partition, first_offset: range.first.toString(), last_offset: range.last.toString(), updated_at: Date.now() }],
        format: 'JSONEachRow',
      });
    },
  };
}
