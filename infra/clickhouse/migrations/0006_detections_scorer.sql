-- What the scorer records of each detection besides the 0004 columns: the client it scored (the
-- IP, or an IPv6 /64 such as 2001:db8:1:2::/64; the block target), whether the rule was live or
-- a dry run, the figure that crossed the threshold and the threshold, until when a block holds,
-- and which offence of this client it was (escalation).
ALTER TABLE detections
    ADD COLUMN IF NOT EXISTS client String DEFAULT '' AFTER ip,
    ADD COLUMN IF NOT EXISTS mode LowCardinality(String) DEFAULT 'live' AFTER severity,
    ADD COLUMN IF NOT EXISTS count UInt64 DEFAULT 0 AFTER score,
    ADD COLUMN IF NOT EXISTS threshold Float64 DEFAULT 0 AFTER count,
    ADD COLUMN IF NOT EXISTS block_expires_at Nullable(DateTime64(3, 'UTC')) AFTER action,
    ADD COLUMN IF NOT EXISTS offence UInt32 DEFAULT 0 AFTER block_expires_at;

-- Requests that were login attempts, as the app reported them (none, failed, succeeded), and
-- the username the attempt named.
ALTER TABLE requests
    ADD COLUMN IF NOT EXISTS login LowCardinality(String) DEFAULT 'none' AFTER rate_limited,
    ADD COLUMN IF NOT EXISTS login_user Nullable(String) AFTER login;

-- A live detection that blocks is also a row of the block audit trail, written by ClickHouse
-- itself as the sink stores the detection (a detection insert the sink repeats is deduplicated
-- before it reaches the view, so the audit row is not repeated either).
CREATE MATERIALIZED VIEW IF NOT EXISTS detections_to_block_events TO block_events AS
SELECT
    ts,
    'block' AS action,
    if(client = '', replaceRegexpOne(toString(ip), '^::ffff:', ''), client) AS target,
    evidence['summary'] AS reason,
    rule AS source,
    severity,
    block_expires_at AS expires_at,
    'scorer' AS actor,
    concat('detection ', id) AS note
FROM detections
WHERE action = 'block' AND mode = 'live';
