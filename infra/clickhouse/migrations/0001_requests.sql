-- The request log (the Django RequestLog's successor): one row per request, geolocated.
-- IPv4 is stored IPv4-mapped in the IPv6 column so one column and one index serve both.
-- The kafka_* columns say where a row came from, for audits and replay checks.
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
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    INDEX idx_status status TYPE minmax GRANULARITY 4,
    INDEX idx_path path TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, ip)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;
