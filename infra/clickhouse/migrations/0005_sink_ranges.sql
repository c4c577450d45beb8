-- The sink's insert ledger: the last offset range it inserted per topic-partition, written
-- before the insert. After a crash, a replayed batch is split at this range so the first
-- insert repeats exactly (same deduplication token, so ClickHouse drops it) and nothing
-- is counted twice.
CREATE TABLE IF NOT EXISTS sink_ranges
(
    topic        String,
    partition    UInt32,
    first_offset UInt64,
    last_offset  UInt64,
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (topic, partition);
