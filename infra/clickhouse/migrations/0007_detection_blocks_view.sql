-- 0006's view wrote every live detection to block_events as a block, flags included: its
-- `'block' AS action` alias shadowed the detections' own column in the WHERE clause (ClickHouse
-- lets WHERE see SELECT aliases). The view again, with the column named by its table, and the
-- audit rows it wrote for detections that did not block removed.
DROP VIEW IF EXISTS detections_to_block_events;

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
WHERE detections.action = 'block' AND mode = 'live';

ALTER TABLE block_events DELETE
WHERE note LIKE 'detection %' AND note IN (SELECT concat('detection ', id) FROM detections WHERE action != 'block');
