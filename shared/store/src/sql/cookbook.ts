/**
 * The analysts' cookbook: questions the pages do not answer, each as a query to run with
 * `ipwatch sql`, POST /api/v1/sql or the dashboard's SQL page (where they are the starting
 * points). Each is run against the replayed real log and its answer checked by
 * test/cookbook.chdb.test.ts, so none rots when a table changes. The README's cookbook is
 * generated from here (npm run docs:cookbook).
 */
export interface CookbookEntry {
  /** Stable id (the dashboard's picker, the tests). */
  id: string;
  title: string;
  /** The question, and what to change to ask it of your own data. */
  question: string;
  sql: string;
  /** 'time': the first column is a time and the others numbers: the dashboard draws it. */
  chart?: 'time';
}

export const COOKBOOK: readonly CookbookEntry[] = [
  {
    id: 'top-error-clients',
    title: 'Top clients by errors over the last hour',
    question: 'Which clients got the most 4xx and 5xx answers in the last hour, and what share of their requests failed?',
    sql: `SELECT
    replaceRegexpOne(toString(ip), '^::ffff:', '') AS client,
    countIf(status >= 400) AS errors,
    count() AS requests,
    round(errors / requests, 3) AS error_share
FROM requests
WHERE ts >= now() - INTERVAL 1 HOUR
GROUP BY client
HAVING errors > 0
ORDER BY errors DESC, client
LIMIT 20`,
  },
  {
    id: 'client-per-minute',
    title: 'One client\'s requests per minute',
    question: 'How did one client\'s traffic go over the last week, minute by minute? (Replace the address; IPv4 or IPv6.)',
    sql: `SELECT
    toStartOfMinute(ts) AS minute,
    count() AS requests,
    countIf(status >= 400) AS errors
FROM requests
WHERE ip = toIPv6('46.105.14.53')
  AND ts >= now() - INTERVAL 7 DAY
GROUP BY minute
ORDER BY minute`,
    chart: 'time',
  },
  {
    id: 'new-countries',
    title: 'Countries seen today and not in the week before',
    question: 'Which countries sent requests in the last 24 hours but none in the 7 days before?',
    sql: `SELECT
    country,
    count() AS requests,
    uniqExact(ip) AS clients
FROM requests
WHERE ts >= now() - INTERVAL 1 DAY
  AND country != ''
  AND country NOT IN (
      SELECT DISTINCT country FROM requests
      WHERE ts >= now() - INTERVAL 8 DAY AND ts < now() - INTERVAL 1 DAY
  )
GROUP BY country
ORDER BY requests DESC, country`,
  },
  {
    id: 'paths-probed-by-detected',
    title: 'Paths probed by detected clients',
    question: 'What did the clients the scorer detected in the last week ask for and not get (403, 404)?',
    sql: `SELECT
    r.path AS path,
    count() AS requests,
    uniqExact(r.ip) AS clients
FROM requests AS r
WHERE r.ts >= now() - INTERVAL 7 DAY
  AND r.status IN (403, 404)
  AND r.ip IN (SELECT ip FROM detections WHERE ts >= now() - INTERVAL 7 DAY)
GROUP BY path
ORDER BY requests DESC, path
LIMIT 50`,
  },
  {
    id: 'rate-limit-refusals-by-rule',
    title: 'Rate-limit refusals by rule',
    question: 'How many requests did each rate limit refuse in the last day, in how many events, from how many clients?',
    sql: `SELECT
    rule,
    sum(count) AS refused,
    count() AS events,
    uniqExact(ip) AS clients
FROM rate_limit_events
WHERE ts >= now() - INTERVAL 1 DAY
GROUP BY rule
ORDER BY refused DESC, rule`,
  },
  {
    id: 'blocks-by-source',
    title: 'Blocks by source',
    question: 'Who or what blocked clients in the last 30 days: an operator (manual, import) or which rule?',
    sql: `SELECT
    source,
    countIf(action = 'block') AS blocks,
    countIf(action = 'unblock') AS unblocks,
    uniqExactIf(target, action = 'block') AS targets
FROM block_events
WHERE ts >= now() - INTERVAL 30 DAY
GROUP BY source
ORDER BY blocks DESC, source`,
  },
  {
    id: 'time-to-detection',
    title: 'Time from first request to detection, per rule',
    question: 'How long after a client\'s first request (in the last 8 days) did each rule detect it?',
    sql: `SELECT
    d.rule AS rule,
    count() AS detections,
    min(dateDiff('second', f.first_seen, d.ts)) AS fastest_s,
    quantileExact(0.5)(dateDiff('second', f.first_seen, d.ts)) AS median_s,
    max(dateDiff('second', f.first_seen, d.ts)) AS slowest_s
FROM detections AS d
INNER JOIN (
    SELECT ip, min(ts) AS first_seen FROM requests
    WHERE ts >= now() - INTERVAL 8 DAY
    GROUP BY ip
) AS f ON d.ip = f.ip
WHERE d.ts >= now() - INTERVAL 7 DAY
GROUP BY rule
ORDER BY detections DESC, rule`,
  },
  {
    id: 'traffic-per-minute',
    title: 'Requests and errors per minute, from the rollup',
    question: 'The whole site\'s traffic over the last day, read from requests_per_minute (fast at any size).',
    sql: `SELECT
    minute,
    sum(requests) AS requests,
    sum(errors) AS errors,
    uniqMerge(unique_ips) AS clients
FROM requests_per_minute
WHERE minute >= now() - INTERVAL 1 DAY
GROUP BY minute
ORDER BY minute`,
    chart: 'time',
  },
];
