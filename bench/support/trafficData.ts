/**
 * Synthetic stored traffic for bench:queries, generated inside ClickHouse (INSERT ... SELECT
 * FROM numbers()), so ten million rows cost seconds and no memory in Node. Shaped like a
 * real shop's log: clients drawn with a Zipf-like skew (a few heavy, a long tail), IPv4
 * mostly and some IPv6 (/64s with a few addresses each), networks, countries, organisations
 * and user agents fixed per client, a long tail of paths, statuses, methods, logins, and a
 * day and a half of timestamps ending now; plus detections, block events and rate-limit
 * events over the same period, drawn from the same clients.
 *
 * Every value is a hash of the row number (cityHash64), so two runs store the same rows
 * (times aside: they end at the run's `now`).
 */
import type { Analytics } from '@ipwatch/store';

export interface TrafficShape {
  /** Requests to store. */
  requests: number;
  /** Distinct clients the requests come from. */
  clients: number;
  detections: number;
  /** block_events written directly (manual blocks, unblocks, allows); live blocking detections add theirs through migration 0007's view. */
  blockEvents: number;
  rateLimitEvents: number;
  /** The span of time the rows cover, ending at `now`. */
  spanMs: number;
  now: number;
}

/** Rows inserted per statement: one sort of this many rows at a time keeps chDB's memory small. */
const CHUNK = 1_000_000;

/** The client index of row `n`, Zipf-like: floor(clients^u) - 1 gives P(c) ~ 1/(c+1); a fifth of the rows uniform so the tail is not too thin. */
const clientOf = (n: string, clients: number, salt: number): string =>
  `if(cityHash64(${n}, ${salt}) % 5 = 0, cityHash64(${n}, ${salt + 1}) % ${clients}, least(${clients - 1}, toUInt64(floor(pow(${clients}, (cityHash64(${n}, ${salt + 2}) % 1000000) / 1000000.0))) - 1))`;

/** A client's network: one of 2,000 IPv4 /16s, each of one of 400 organisations (ASNs), so a /16 holds ~90 clients. */
const NETWORK = (c: string) => `(cityHash64(${c}, 11) % 2000)`;
const ORG = (c: string) => `(${NETWORK(c)} % 400)`;
/** IPv4 as the column holds it (mapped); the /16's first octet avoids 0, 10, 127 and 224+. */
const IPV4 = (c: string) =>
  `toIPv6(toIPv4(((11 + ${NETWORK(c)} % 200) * 16777216) + (intDiv(${NETWORK(c)}, 200) * 65536) + (cityHash64(${c}, 12) % 65536)))`;
/** IPv6: the client's /64 under 2a0X:: with one of 4 addresses (privacy addresses rotate). */
const IPV6 = (c: string, n: string) =>
  `toIPv6(concat('2a0', toString(${ORG(c)} % 10), ':', hex(toUInt16(${ORG(c)})), ':', hex(toUInt16(cityHash64(${c}, 13) % 65536)), ':', hex(toUInt16(cityHash64(${c}, 14) % 65536)), '::', hex(toUInt16(1 + cityHash64(${n}, 15) % 4))))`;
/** One client in ten is IPv6. */
const IS_V6 = (c: string) => `(${c} % 10 = 9)`;

const COUNTRIES = ['US', 'US', 'US', 'US', 'DE', 'DE', 'GB', 'GB', 'FR', 'FR', 'NL', 'JP', 'CN', 'BR', 'IN', 'CA', 'AU', 'RU', 'SG', 'PL', 'SE', 'IT', 'ES', 'KR', 'VN', 'ID', 'UA', 'TR', 'MX', 'ZA'];
const CITIES = ['Ashburn', 'Frankfurt', 'London', 'Paris', 'Amsterdam', 'Tokyo', 'Beijing', 'Sao Paulo', 'Mumbai', 'Toronto', 'Sydney', 'Moscow', 'Singapore', 'Warsaw'];
const ORG_NAMES = ['Amazon.com, Inc.', 'Google LLC', 'Comcast Cable', 'Deutsche Telekom AG', 'OVH SAS', 'Hetzner Online GmbH', 'DigitalOcean, LLC', 'Orange S.A.', 'Microsoft Corporation', 'China Telecom', 'Vodafone GmbH', 'BT', 'Cloudflare, Inc.', 'Tencent', 'Akamai'];
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'curl/8.5.0',
  'python-requests/2.31.0',
  'Go-http-client/1.1',
];
const ASSETS = ['/static/app.js', '/static/app.css', '/static/vendor.js', '/favicon.ico', '/static/logo.svg', '/static/fonts/inter.woff2', '/robots.txt'];
const PAGES = ['/', '/cart', '/checkout', '/account', '/search', '/about', '/contact', '/api/cart', '/api/products', '/api/session'];
const PROBES = ['/.env', '/.git/config', '/wp-login.php', '/wp-admin/', '/phpmyadmin/', '/admin', '/backup.sql', '/.aws/credentials', '/config.json', '/xmlrpc.php', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', '/index.php?id=1%27%20UNION%20SELECT%20NULL--'];
const RULES = ['scanner-user-agent', 'sensitive-files', 'sensitive-paths', 'cms-probe', 'path-scan', 'error-ratio', 'login-failures', 'credential-stuffing', 'burst'];
const SEVERITIES = ['low', 'medium', 'medium', 'high', 'high', 'critical'];
const LIMIT_RULES = ['global', 'global', 'api', 'login', 'search'];

/** A ClickHouse array literal of strings (constants of this file: no quotes in them but escaped anyway). */
const arr = (xs: readonly string[]) => `[${xs.map((x) => `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;
/** `xs[h % len + 1]` for a hash expression h. */
const pick = (xs: readonly string[], h: string) => `${arr(xs)}[1 + (${h}) % ${xs.length}]`;

/** The SELECT of requests [from, from + count): every column of the table (0001, 0006). */
function requestsSelect(shape: TrafficShape, from: number, count: number): string {
  const n = 'number';
  const c = 'c';
  const since = shape.now - shape.spanMs;
  return `
    SELECT
      hex(cityHash64(${n}, 1)) AS event_id,
      fromUnixTimestamp64Milli(toInt64(${since} + cityHash64(${n}, 2) % ${shape.spanMs})) AS ts,
      if(${IS_V6(c)}, ${IPV6(c, n)}, ${IPV4(c)}) AS ip,
      'off' AS ip_anonymisation,
      'shop' AS app,
      concat('web-', toString(${n} % 4)) AS instance,
      multiIf(kind = 3, 'POST', m < 90, 'GET', m < 96, 'POST', m < 98, 'HEAD', m < 99, 'OPTIONS', 'PUT') AS method,
      'shop.example.com' AS host,
      multiIf(
        kind = 0, ${pick(ASSETS, 'cityHash64(number, 21)')},
        kind = 1, concat('/products/', toString(toUInt64(floor(pow(50000, (cityHash64(number, 22) % 100000) / 100000.0))))),
        kind = 2, concat('/article/', toString(toUInt64(floor(pow(100000, (cityHash64(number, 23) % 100000) / 100000.0)))), '-', hex(cityHash64(number, 23) % 4096)),
        kind = 3, '/login',
        kind = 4, ${pick(PROBES, 'cityHash64(number, 24)')},
        kind = 5, concat('/search?q=', hex(cityHash64(number, 25) % 1000000)),
        ${pick(PAGES, 'cityHash64(number, 26)')}) AS path,
      toUInt16(multiIf(is_blocked, 403, is_limited, 429, kind = 4, if(s < 80, 404, 403), kind = 3, if(login_ok, 302, 401),
        s < 880, 200, s < 930, 304, s < 950, 301, s < 975, 404, s < 985, 403, s < 995, 500, 503)) AS status,
      toFloat32(2 + (cityHash64(${n}, 27) % 1000) * (cityHash64(${n}, 28) % 1000) / 2000.0) AS latency_ms,
      toUInt64(200 + cityHash64(${n}, 29) % 60000) AS bytes,
      if(cityHash64(${n}, 30) % 20 = 0, concat('Mozilla/5.0 (compatible; crawler-', toString(cityHash64(${c}, 31) % 5000), '/1.0)'), ${pick(USER_AGENTS, `cityHash64(${c}, 32)`)}) AS user_agent,
      ${pick(['', '', '', 'https://www.google.com/', 'https://shop.example.com/', 'https://news.ycombinator.com/'], `cityHash64(${n}, 33)`)} AS referer,
      if(cityHash64(${c}, 34) % 4 = 0, concat('u', toString(${c})), NULL) AS user_id,
      cityHash64(${c}, 34) % 4 = 0 AS authenticated,
      is_blocked AS blocked,
      is_limited AS rate_limited,
      if(kind = 3, if(login_ok, 'succeeded', 'failed'), 'none') AS login,
      if(kind = 3, concat('user', toString(cityHash64(${n}, 35) % if(${c} < 50, 5000, 3)), '@example.com'), NULL) AS login_user,
      ${pick(COUNTRIES, `${NETWORK(c)} * 7`)} AS country,
      '' AS region,
      ${pick(CITIES, `${NETWORK(c)} * 3`)} AS city,
      toNullable(toFloat64(${NETWORK(c)} % 120) - 60) AS latitude,
      toNullable(toFloat64(${NETWORK(c)} % 340) - 170) AS longitude,
      toUInt32(64500 + ${ORG(c)}) AS asn,
      concat(${pick(ORG_NAMES, ORG(c))}, ' #', toString(${ORG(c)})) AS org,
      'mmdb' AS geo_source,
      ts AS enriched_at,
      'bench' AS log_epoch,
      toUInt32(${n} % 6) AS kafka_partition,
      toUInt64(${n}) AS kafka_offset
    FROM (
      SELECT number, ${clientOf('number', shape.clients, 100)} AS c,
             -- kind of request: 0 asset, 1 product, 2 article, 3 login, 4 probe, 5 search, 6 page
             multiIf(k < 300, 0, k < 550, 1, k < 750, 2, k < 760, 3, k < 770, 4, k < 850, 5, 6) AS kind,
             cityHash64(number, 40) % 100 AS m, cityHash64(number, 41) % 1000 AS s,
             cityHash64(number, 42) % 3 = 0 AS login_ok,
             -- a few clients get blocked and rate limited much more than the rest
             (cityHash64(number, 43) % 1000) < if(c % 97 = 3, 300, 3) AS is_blocked,
             NOT is_blocked AND (cityHash64(number, 44) % 1000) < if(c % 89 = 5, 200, 5) AS is_limited
      FROM (SELECT number, cityHash64(number, 3) % 1000 AS k FROM numbers(${from}, ${count}))
    )`;
}

/**
 * Fills the store with `shape`'s rows (the tables of the migrations, already applied) and
 * merges each table to one part per partition, as a long-running store's background merges
 * would have. Returns how long it took.
 */
export async function generateTraffic(analytics: Analytics, shape: TrafficShape, log: (line: string) => void = () => {}): Promise<{ insertMs: number; mergeMs: number }> {
  const t0 = performance.now();
  for (let from = 0; from < shape.requests; from += CHUNK) {
    const count = Math.min(CHUNK, shape.requests - from);
    await analytics.client.command({ query: `INSERT INTO requests ${requestsSelect(shape, from, count)}` });
    log(`  requests ${from + count} / ${shape.requests} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const since = shape.now - shape.spanMs;
  const client = clientOf('number', shape.clients, 100);
  const ipOf = `if(${IS_V6('c')}, ${IPV6('c', 'number')}, ${IPV4('c')})`;
  await analytics.client.command({
    query: `INSERT INTO detections (id, ts, ip, client, rule, severity, mode, score, count, threshold, window_start, window_end, evidence, action, block_expires_at, offence, log_epoch, kafka_partition, kafka_offset)
      SELECT hex(cityHash64(number, 51)) AS id,
             fromUnixTimestamp64Milli(toInt64(${since} + cityHash64(number, 52) % ${shape.spanMs})) AS ts,
             ${ipOf} AS ip,
             if(${IS_V6('c')}, concat(toString(IPv6CIDRToRange(ip, 64).1), '/64'), replaceRegexpOne(toString(ip), '^::ffff:', '')) AS client,
             ${pick(RULES, 'cityHash64(number, 53)')} AS rule,
             ${pick(SEVERITIES, 'cityHash64(number, 54)')} AS severity,
             if(cityHash64(number, 55) % 10 = 0, 'dry-run', 'live') AS mode,
             toFloat64(cityHash64(number, 56) % 100) AS score,
             toUInt64(10 + cityHash64(number, 57) % 200) AS count,
             toFloat64(10) AS threshold,
             ts - INTERVAL 1 MINUTE AS window_start, ts AS window_end,
             map('summary', concat(rule, ' matched ', toString(count), ' requests'), 'path', ${pick(PROBES, 'cityHash64(number, 58)')}) AS evidence,
             if(cityHash64(number, 59) % 100 < 6, 'block', 'flag') AS action,
             if(action = 'block', ts + INTERVAL 1 HOUR, NULL) AS block_expires_at,
             toUInt32(1 + cityHash64(number, 60) % 3) AS offence,
             'bench' AS log_epoch, toUInt32(number % 6) AS kafka_partition, toUInt64(number) AS kafka_offset
      FROM (SELECT number, ${client} AS c FROM numbers(${shape.detections}))`,
  });
  await analytics.client.command({
    query: `INSERT INTO block_events (ts, action, target, reason, source, severity, expires_at, actor, note)
      SELECT fromUnixTimestamp64Milli(toInt64(${since} + cityHash64(number, 61) % ${shape.spanMs})) AS ts,
             ${pick(['block', 'block', 'block', 'unblock', 'allow', 'unallow'], 'cityHash64(number, 62)')} AS action,
             if(cityHash64(number, 63) % 10 = 0, concat(toString(11 + cityHash64(number, 64) % 200), '.', toString(cityHash64(number, 65) % 256), '.0.0/16'),
                replaceRegexpOne(toString(${ipOf}), '^::ffff:', '')) AS target,
             'abuse report' AS reason, ${pick(['manual', 'manual', 'import'], 'cityHash64(number, 66)')} AS source,
             'high' AS severity, if(action = 'block', ts + INTERVAL 1 DAY, NULL) AS expires_at, 'ops@example.com' AS actor, '' AS note
      FROM (SELECT number, ${client} AS c FROM numbers(${shape.blockEvents}))`,
  });
  await analytics.client.command({
    query: `INSERT INTO rate_limit_events (ts, ip, rule, limit_key, limit, window_ms, count, path, user_id, app, log_epoch, kafka_partition, kafka_offset)
      SELECT fromUnixTimestamp64Milli(toInt64(${since} + cityHash64(number, 71) % ${shape.spanMs})) AS ts,
             ${ipOf} AS ip,
             ${pick(LIMIT_RULES, 'cityHash64(number, 72)')} AS rule,
             concat('ip:', replaceRegexpOne(toString(ip), '^::ffff:', '')) AS limit_key,
             toUInt32(multiIf(rule = 'login', 5, rule = 'api', 60, 100)) AS limit,
             toUInt64(60000) AS window_ms,
             toUInt32(1 + cityHash64(number, 73) % 40) AS count,
             ${pick(['/api/cart', '/login', '/search', '/products/1', '/'], 'cityHash64(number, 74)')} AS path,
             NULL AS user_id, 'shop' AS app, 'bench' AS log_epoch, toUInt32(number % 6) AS kafka_partition, toUInt64(number) AS kafka_offset
      FROM (SELECT number, ${client} AS c FROM numbers(${shape.rateLimitEvents}))`,
  });
  const insertMs = performance.now() - t0;
  log(`  detections, block events, rate-limit events (${(insertMs / 1000).toFixed(1)} s)`);
  const t1 = performance.now();
  for (const table of ['requests', 'requests_per_minute', 'requests_top_hourly', 'requests_top_5min', 'detections', 'block_events', 'rate_limit_events']) {
    await analytics.client.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
  }
  const mergeMs = performance.now() - t1;
  log(`  merged (${(mergeMs / 1000).toFixed(1)} s)`);
  return { insertMs, mergeMs };
}

/** Which stored clients to look at: the heaviest, one from the tail, and the /16 of the heaviest. */
export async function pickClients(analytics: Analytics): Promise<{ heavy: string; light: string; middle: string; network16: string }> {
  const rs = await analytics.client.query({
    query: `SELECT replaceRegexpOne(toString(ip), '^::ffff:', '') AS ip, count() AS n FROM requests
            WHERE isIPv4String(replaceRegexpOne(toString(ip), '^::ffff:', '')) GROUP BY ip ORDER BY n DESC`,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const rows = await rs.json<{ ip: string; n: number }>();
  const heavy = rows[0]!.ip;
  const middle = rows[Math.floor(rows.length / 100)]!.ip;
  const light = rows[Math.floor(rows.length * 0.9)]!.ip;
  const [a, b] = heavy.split('.');
  return { heavy, light, middle, network16: `${a}.${b}.0.0/16` };
}
