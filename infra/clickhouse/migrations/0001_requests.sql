-- The request log (the Django RequestLog's successor): one row per request, geolocated.
-- IPv4 is stored IPv4-mapped in the IPv6 column so one column and one index serve both.
-- log_epoch, kafka_partition and kafka_offset say which message a row came from: the sink
-- uses them to skip what is already stored when a batch is replayed (services/sink).
CREATE TABLE IF NOT EXISTS requests
(
    event_id         String,
    ts               DateTime64(3, 'UTC'),
    ip               IPv6,
    ip_anonymisation LowCardinality(String),
    app              LowCardinality(String),
    instance         LowCardinality(String),
    method           LowCardinality(String),
    host             String,
    path             String,
    status           UInt16,
    latency_ms       Float32,
    bytes            UInt64,
    user_agent       String,
    referer          String,
    user_id          Nullable(String),
    authenticated    Bool,
    blocked          Bool,
    rate_limited     Bool,
    country          LowCardinality(String),
    region           String,
    city             String,
    latitude         Nullable(Float64),
    longitude        Nullable(Float64),
    asn              UInt32,
    org              String,
    geo_source       LowCardinality(String),
    enriched_at      DateTime64(3, 'UTC'),
    log_epoch        LowCardinality(String),
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1,
    INDEX idx_status status TYPE minmax GRANULARITY 4,
    INDEX idx_path path TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, ip)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;
