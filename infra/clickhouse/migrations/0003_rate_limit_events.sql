-- Requests refused by a rate limit (the Django app's rate-limit log), aggregated by the emitter.
CREATE TABLE IF NOT EXISTS rate_limit_events
(
    ts              DateTime64(3, 'UTC'),
    ip              IPv6,
    rule            LowCardinality(String),
    limit_key       String,
    limit           UInt32,
    window_ms       UInt64,
    count           UInt32,
    path            String,
    user_id         Nullable(String),
    app             LowCardinality(String),
    log_epoch       LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, ip)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;
