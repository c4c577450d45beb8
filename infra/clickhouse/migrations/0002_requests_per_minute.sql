-- Per-minute rollup of the request log, kept up to date by a materialized view. The target
-- table carries its own deduplication window so a replayed (deduplicated) insert into
-- `requests` does not count twice here either.
CREATE TABLE IF NOT EXISTS requests_per_minute
(
    minute        DateTime('UTC'),
    app           LowCardinality(String),
    country       LowCardinality(String),
    status_class  UInt8,
    requests      SimpleAggregateFunction(sum, UInt64),
    errors        SimpleAggregateFunction(sum, UInt64),
    blocked       SimpleAggregateFunction(sum, UInt64),
    bytes         SimpleAggregateFunction(sum, UInt64),
    unique_ips    AggregateFunction(uniq, IPv6),
    latency_ms    AggregateFunction(quantiles(0.5, 0.95, 0.99), Float32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, app, country, status_class)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS requests_per_minute_mv TO requests_per_minute AS
SELECT
    toStartOfMinute(ts) AS minute,
    app,
    country,
    intDiv(status, 100) AS status_class,
    count() AS requests,
    countIf(status >= 400) AS errors,
    countIf(blocked) AS blocked,
    sum(bytes) AS bytes,
    uniqState(ip) AS unique_ips,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms
FROM requests
GROUP BY minute, app, country, status_class;
