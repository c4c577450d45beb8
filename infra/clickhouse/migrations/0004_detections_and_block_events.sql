-- Anomalies found by the scorer, and the audit trail of every block and unblock.
CREATE TABLE IF NOT EXISTS detections
(
    id              String,
    ts              DateTime64(3, 'UTC'),
    ip              IPv6,
    rule            LowCardinality(String),
    severity        LowCardinality(String),
    score           Float64,
    window_start    DateTime64(3, 'UTC'),
    window_end      DateTime64(3, 'UTC'),
    evidence        Map(String, String),
    action          LowCardinality(String),
    log_epoch       LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, ip)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS block_events
(
    ts          DateTime64(3, 'UTC'),
    action      LowCardinality(String),
    target      String,
    reason      String,
    source      LowCardinality(String),
    severity    LowCardinality(String),
    expires_at  Nullable(DateTime64(3, 'UTC')),
    actor       String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, target);
