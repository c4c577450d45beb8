-- The privacy audit log: every export, erasure and analyst query, who made it and when, how many
-- rows each table gave or lost. It holds no address, user id or query text of a data subject:
-- the kind of subject (ip, cidr, user) and a range's prefix length say what was asked; the id is
-- what the operator files with the request (README, "Privacy"). Kept IPWATCH_RETENTION_AUDIT_DAYS.
CREATE TABLE IF NOT EXISTS privacy_audit
(
    id            String,
    ts            DateTime64(3, 'UTC'),
    actor         String,
    action        LowCardinality(String),
    subject_kind  LowCardinality(String),
    subject_bits  UInt8,
    outcome       LowCardinality(String),
    rows          Map(String, UInt64),
    note          String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, id);

-- Erasures under way: the subject and the rollup buckets it touched, written before the first row
-- is deleted, so an erasure stopped half-way is finished by running it again (the buckets to
-- rebuild are no longer findable once the subject's requests are gone). The row is deleted when
-- the erasure completes: nothing here outlives it.
CREATE TABLE IF NOT EXISTS privacy_erasures_pending
(
    id          String,
    started_at  DateTime64(3, 'UTC'),
    actor       String,
    subject     String,
    minutes     Array(DateTime('UTC')),
    hours       Array(DateTime('UTC')),
    buckets     Array(DateTime('UTC'))
)
ENGINE = MergeTree
ORDER BY id;
