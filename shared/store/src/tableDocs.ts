/**
 * The ClickHouse tables as analysts see them: a public interface, queried with their own SQL
 * (`ipwatch sql`), changed only by a migration (infra/clickhouse/migrations/). For every table
 * and materialized view: what a row is and who writes it, what each column means, which columns
 * hold personal data and how, what the sort key makes fast, and which variable sets the
 * retention. scripts/tables-doc.ts renders it with what ClickHouse itself reports (types,
 * defaults, keys, TTLs) into docs/TABLES.md; tablesDoc.chdb.test.ts fails when a migration adds,
 * drops or renames a column, an index, a projection or a view this catalog does not name.
 *
 * The meanings of the personal tables' columns are the privacy catalog's (what an export prints
 * beside the rows): one text for both.
 */
import { PERSONAL_TABLES } from './privacy/catalog.ts';

export interface ColumnDoc {
  meaning: string;
  /** What personal data the column holds and in which form (in clear, hashed in a sketch...); null: none. */
  personal: string | null;
}

export interface TableDoc {
  name: string;
  /** What a row is and who writes it. */
  description: string;
  /** Every column, in no particular order (the document lists them as ClickHouse does). */
  columns: Record<string, ColumnDoc>;
  /** What the sort key makes fast, and what it does not. */
  sortKey: string;
  /** Every data-skipping index, with what it helps. */
  indexes: Record<string, string>;
  /** Every projection, with when ClickHouse uses it. */
  projections: Record<string, string>;
  /** The variable that sets the TTL (applied by `ipwatch migrate`), or null when none does; note: how it applies. */
  retention: { variable: string | null; note: string };
  /** How to read it, for tables of aggregate states (rows of one key are merged in the background, not at insert). */
  howToQuery?: { note: string; example: string };
}

export interface ViewDoc {
  name: string;
  /** The table whose inserts it reads. */
  from: string;
  /** The table it writes to. */
  to: string;
  description: string;
}

/** The privacy catalog's meanings of a personal table's columns. */
function privacyMeanings(table: string): Record<string, string> {
  const t = PERSONAL_TABLES.find((p) => p.table === table);
  // A table the privacy catalog dropped: its columns go unexplained, and tablesDoc.chdb.test.ts says which.
  return t ? t.fields : {};
}

/**
 * Columns from their meanings and the personal data some hold. A personal note on a column
 * with no meaning still makes a column (with an empty meaning), so the test names it.
 */
function columns(meanings: Record<string, string>, personal: Record<string, string> = {}): Record<string, ColumnDoc> {
  const out: Record<string, ColumnDoc> = {};
  for (const [name, meaning] of Object.entries(meanings)) out[name] = { meaning, personal: personal[name] ?? null };
  for (const [name, note] of Object.entries(personal)) out[name] ??= { meaning: '', personal: note };
  return out;
}

const DERIVED_PLACE = 'derived from the address: where the visitor approximately is';
const KEYS_SKETCH = 'hashed in a sketch: uniq keeps up to 65,536 unkeyed 64-bit hashes of the keys, so an address among them can be confirmed by hashing it';

const TOP_DIMENSIONS = 'the keys counted: `client` (the ip column as text, IPv4 mapped: `::ffff:203.0.113.7`), `path`, `user_agent`, or `asn` (`<asn> <org>`)';

function topSketchTable(name: 'requests_top_hourly' | 'requests_top_5min'): TableDoc {
  const hourly = name === 'requests_top_hourly';
  const time = hourly ? 'hour' : 'bucket';
  const period = hourly ? 'hour' : 'five minutes';
  return {
    name,
    description: hourly
      ? 'Heavy hitters of the request log per hour: for each dimension (clients, paths, user agents, networks), a Space-Saving sketch of the 100 most frequent keys with their counts, and a distinct-key estimate. Written by ClickHouse (requests_top_hourly_mv) as rows reach `requests`; the dashboard\'s overview merges these instead of grouping millions of rows; an erasure rebuilds the hours its subject\'s requests fell in.'
      : 'The same heavy-hitter sketches as requests_top_hourly, per five minutes and kept 8 days, so the overview reads from `requests` only the minutes outside whole five-minute buckets. Written by ClickHouse (requests_top_5min_mv); an erasure rebuilds the buckets its subject\'s requests fell in.',
    columns: columns(
      {
        [time]: `the start of the ${period} (UTC)`,
        dimension: TOP_DIMENSIONS,
        sketch: `the 100 most frequent keys of the dimension in the ${period}, with their counts and error bounds (approx_top_count state, 1,000 slots kept: the heavy hitters' counts are exact in practice)`,
        keys: `how many distinct keys the dimension had in the ${period} (uniq state)`,
      },
      {
        sketch: 'in clear inside the sketch: the most frequent client addresses (as text), paths and user agents',
        keys: KEYS_SKETCH,
      },
    ),
    sortKey: `A range of ${hourly ? 'hours' : 'five-minute buckets'}, one dimension or all: each ${period} has one row per dimension once merged. Nothing here finds a key's count without merging the whole range's sketches of its dimension.`,
    indexes: {},
    projections: {},
    retention: hourly
      ? { variable: 'IPWATCH_RETENTION_DAYS', note: 'as long as the requests the sketches were made of (they hold client addresses)' }
      : { variable: 'IPWATCH_RETENTION_DAYS', note: 'at most 8 days (the overview\'s widest period, 7 days, and its edge), less when IPWATCH_RETENTION_DAYS is less' },
    howToQuery: {
      note:
        `Aggregate states: merge them, with the same parameters as the view. approx_top_countMerge(100, 1000)(sketch) gives an array of (key, count, error) tuples, most frequent first (a count may be over by at most its error); uniqMerge(keys) the distinct keys. Filter on dimension: one sketch never mixes dimensions.`,
      example: `SELECT approx_top_countMerge(100, 1000)(sketch) AS top_paths, uniqMerge(keys) AS distinct_paths
FROM ${name}
WHERE dimension = 'path' AND ${time} >= ${hourly ? 'toStartOfHour(now()) - INTERVAL 24 HOUR' : 'toStartOfFiveMinutes(now()) - INTERVAL 1 HOUR'}`,
    },
  };
}

export const TABLE_DOCS: readonly TableDoc[] = [
  {
    name: 'requests',
    description:
      'The request log: one row per HTTP request an app served or refused, as its emitter reported it, with the geolocation the enricher added. Written by the sink from the enriched-requests topic (each row keeps the message it came from, so a replayed batch is not stored twice). A visitor who opted out has a row with the address `::` and no path, user agent, referer, user or username (README, "Opt-out").',
    columns: columns(privacyMeanings('requests'), {
      ip: 'in clear (or as the app anonymised it: truncated, or a keyed pseudonym; `::` when withheld)',
      path: 'in clear (a path can name a person: /users/alice; its query string can carry emails or tokens)',
      user_agent: 'in clear (part of a browser fingerprint)',
      referer: 'in clear (the page before, with its query string)',
      user_id: 'in clear',
      login_user: 'in clear (what was typed: possibly another person\'s username, or a password typed in the wrong field)',
      country: DERIVED_PLACE,
      region: DERIVED_PLACE,
      city: DERIVED_PLACE,
      latitude: DERIVED_PLACE,
      longitude: DERIVED_PLACE,
      asn: 'derived from the address: its network',
      org: 'derived from the address: its network operator (for a fixed line, possibly a small business\'s name)',
    }),
    sortKey:
      'Fast: time ranges (the primary index prunes by `ts`, and a day partition outside the range is not read at all). Not fast: one client, as its rows are spread over every granule of a range, so `WHERE ip = ...` reads the whole range; the `requests_by_client` projection (ORDER BY ip, ts) serves one client\'s rows. Filters on other columns (user_id, country, status, path) read every row of the time range, helped a little by the skipping indexes: always bound them by `ts`.',
    indexes: {
      idx_kafka_offset: 'the sink\'s check of which offsets are already stored (bookkeeping)',
      idx_status: 'skips granules without the status asked for (`status >= 500`): useful when such statuses come in bursts',
      idx_path: 'a token Bloom filter on path: skips granules without a token (`hasToken(path, \'wp-login\')`, `path = ...`, `LIKE \'%/wp-login%\'`)',
    },
    projections: {
      requests_by_client:
        'A second copy of some columns (ts, ip, status, path, user_agent, blocked, rate_limited, login, login_user, country, region, city, asn, org) ordered by (ip, ts), for one client\'s rows: ClickHouse uses it by itself when a query filters on `ip` and reads only those columns (a query that also reads, say, `referer` or `user_id` reads the table instead, in time order). 18% more disk.',
    },
    retention: { variable: 'IPWATCH_RETENTION_DAYS', note: '' },
  },
  {
    name: 'requests_per_minute',
    description:
      'The per-minute rollup of the request log: counts per minute, app, country and status class, a distinct-client sketch and latency quantiles. Written by ClickHouse (requests_per_minute_mv) as rows reach `requests`, with its own deduplication window so a replayed insert does not count twice; the dashboard\'s overview and the daily report read it; an erasure rebuilds the minutes its subject\'s requests fell in. Outlives the request log (400 days by default).',
    columns: columns(
      {
        minute: 'the start of the minute (UTC)',
        app: 'which app served the requests',
        country: 'the country the clients are located in (ISO code; empty when unknown)',
        status_class: 'the status divided by 100: 2 for 2xx, 4 for 4xx, 5 for 5xx...',
        requests: 'requests (sum)',
        errors: 'requests answered with a status of 400 or more (sum)',
        blocked: 'requests refused because the address was blocked (sum)',
        rate_limited: 'requests refused by a rate limit (sum; from migration 0011 on, earlier ones backfilled)',
        bytes: 'bytes of the answers\' bodies (sum)',
        unique_ips: 'the distinct client addresses (uniq state)',
        latency_ms: 'the latency\'s 50th, 95th and 99th percentiles in milliseconds (quantiles state)',
      },
      {
        unique_ips: 'hashed in a sketch: uniq keeps up to 65,536 unkeyed 64-bit hashes of the addresses, so a given address can be confirmed to be among them by hashing it',
      },
    ),
    sortKey:
      'Ranges of minutes, then per app, country and status class: a day\'s series is about 1,440 rows per app, country and class before merging. A country or app across a long range reads the whole range (they come after `minute` in the key).',
    indexes: {},
    projections: {},
    retention: { variable: 'IPWATCH_RETENTION_ROLLUP_DAYS', note: '' },
    howToQuery: {
      note:
        'Rows of one key are merged in the background, not at insert: always aggregate. sum() the counts (requests, errors, blocked, rate_limited, bytes); uniqMerge(unique_ips) for the distinct clients over the whole group (not a sum of minutes); quantilesMerge(0.5, 0.95, 0.99)(latency_ms) for [p50, p95, p99].',
      example: `SELECT toStartOfHour(minute) AS hour, sum(requests) AS requests, sum(errors) AS errors,
       uniqMerge(unique_ips) AS clients, quantilesMerge(0.5, 0.95, 0.99)(latency_ms) AS latency_p50_p95_p99
FROM requests_per_minute
WHERE minute >= now() - INTERVAL 1 DAY
GROUP BY hour
ORDER BY hour`,
    },
  },
  {
    name: 'rate_limit_events',
    description:
      'Requests refused by a rate limit, as the emitter aggregated them: one row per limit, client and short interval, with how many were refused. Written by the sink from the rate-limit topic.',
    columns: columns(privacyMeanings('rate_limit_events'), {
      ip: 'in clear',
      limit_key: 'in clear: the address, its network, `user:<user id>` or `login-user:<username>`',
      path: 'in clear',
      user_id: 'in clear',
    }),
    sortKey:
      'Time ranges (a day partition outside the range is not read). One address within a time range is also fast; one address, rule or user over a long range reads the whole range.',
    indexes: { idx_kafka_offset: 'the sink\'s check of which offsets are already stored (bookkeeping)' },
    projections: {},
    retention: { variable: 'IPWATCH_RETENTION_RATE_LIMIT_DAYS', note: '' },
  },
  {
    name: 'detections',
    description:
      'What the scorer found: one row per detection, a client whose requests crossed a rule\'s threshold in a window, with the evidence and what was done (flag or block; in dry-run mode only recorded). Written by the sink from the detections topic; a live block is also written to block_events (detections_to_block_events).',
    columns: columns(privacyMeanings('detections'), {
      ip: 'in clear',
      client: 'in clear',
      evidence: 'in clear: sample paths, user agents and the usernames tried; for account-attack, the account (evidence[\'account\']) and the clients that failed on it (evidence[\'clients\'], one a line)',
    }),
    sortKey:
      'Time ranges (month partitions); one address within a time range. By rule or client over a long range: the whole range is read, which stays small (detections are few).',
    indexes: { idx_kafka_offset: 'the sink\'s check of which offsets are already stored (bookkeeping)' },
    projections: {},
    retention: { variable: 'IPWATCH_RETENTION_DETECTIONS_DAYS', note: '' },
  },
  {
    name: 'block_events',
    description:
      'The audit trail of blocks and of the allowlist: one row per change (block, unblock, and allowlist `allow` and `unallow`), who or which rule made it, why and until when. Written by the api for each change made through it (manual, imported, or under a rule\'s name with the scorer\'s token), and by ClickHouse (detections_to_block_events) for each live detection that blocks. A change, not the state: whether a target is blocked now is its latest block or unblock row (and that row\'s expires_at).',
    columns: columns(privacyMeanings('block_events'), {
      target: 'in clear: an address or range',
      reason: 'free text: can name a client or a person; a rule\'s block carries the detection\'s summary',
      actor: 'an operator\'s name (not a visitor\'s)',
      note: 'what a caller said of itself (an operator\'s user@host)',
    }),
    sortKey: 'Time ranges (month partitions). One target\'s history reads every row: the table is small.',
    indexes: {},
    projections: {},
    retention: { variable: 'IPWATCH_RETENTION_BLOCK_EVENTS_DAYS', note: '' },
  },
  topSketchTable('requests_top_hourly'),
  topSketchTable('requests_top_5min'),
  {
    name: 'privacy_audit',
    description:
      'The privacy audit log: one row per export, erasure (started, then completed) and analyst query, who made it, the kind of subject and how many rows each table gave or lost. It holds no address, user id or query text of a data subject. Written by the store\'s privacy module (exports and erasures) and by `ipwatch sql` (queries).',
    columns: columns(
      {
        id: 'the act\'s id: what the operator files with the request (an erasure\'s started and completed rows share it)',
        ts: 'when it happened (UTC)',
        actor: 'who did it: the authenticated caller (a token\'s name, or local)',
        action: 'export, erase or query',
        subject_kind: 'what was asked about: ip, cidr or user (exports and erasures), sql (queries)',
        subject_bits: 'the prefix length of a range (32 or 128 for one address; 0 for a user or a query)',
        outcome: 'started, completed, nothing_found, refused or failed',
        rows: 'rows per table: exported, removed, or read by a query',
        note: 'a remark for the reader (never the subject itself)',
      },
      { actor: 'an operator\'s name (not a visitor\'s)' },
    ),
    sortKey: 'Time ranges; one act by id is a scan, over a small table.',
    indexes: {},
    projections: {},
    retention: { variable: 'IPWATCH_RETENTION_AUDIT_DAYS', note: '' },
  },
  {
    name: 'privacy_erasures_pending',
    description:
      'Erasures under way: the subject and the rollup buckets its requests fell in, written before the first row is deleted so an erasure stopped half-way is finished by running it again. Deleted when the erasure completes: normally empty.',
    columns: columns(
      {
        id: 'the erasure\'s audit id (privacy_audit.id)',
        started_at: 'when the erasure started (UTC)',
        actor: 'who ran it',
        subject: 'what is being erased: `ip:<address or range>` or `user:<user id>`',
        minutes: 'the requests_per_minute minutes to aggregate again without the subject',
        hours: 'the requests_top_hourly hours to sketch again',
        buckets: 'the requests_top_5min buckets to sketch again',
      },
      {
        subject: 'in clear: the address, range or user being erased (until the erasure completes)',
        actor: 'an operator\'s name (not a visitor\'s)',
      },
    ),
    sortKey: 'By id; the table holds a row per erasure under way.',
    indexes: {},
    projections: {},
    retention: { variable: null, note: 'a row lives until its erasure completes' },
  },
  {
    name: 'schema_migrations',
    description: 'The migrations ledger: one row per migration applied, written by `ipwatch migrate`. A migration applied and then edited is refused (its checksum differs).',
    columns: columns({
      version: 'the migration\'s number (NNNN of infra/clickhouse/migrations/NNNN_name.sql)',
      name: 'its file name',
      checksum: 'the SHA-256 of the file as applied',
      applied_at: 'when it was applied (UTC)',
    }),
    sortKey: 'By version.',
    indexes: {},
    projections: {},
    retention: { variable: null, note: 'kept: the ledger of the schema' },
  },
];

export const VIEW_DOCS: readonly ViewDoc[] = [
  {
    name: 'requests_per_minute_mv',
    from: 'requests',
    to: 'requests_per_minute',
    description: 'Aggregates each block of rows inserted into `requests` by minute, app, country and status class, and inserts the partial aggregates into requests_per_minute (merged there in the background).',
  },
  {
    name: 'requests_top_hourly_mv',
    from: 'requests',
    to: 'requests_top_hourly',
    description: 'Sketches each block of rows inserted into `requests` per hour and dimension (client, path, user agent, network) and inserts the sketches into requests_top_hourly.',
  },
  {
    name: 'requests_top_5min_mv',
    from: 'requests',
    to: 'requests_top_5min',
    description: 'The same sketches per five minutes, into requests_top_5min.',
  },
  {
    name: 'detections_to_block_events',
    from: 'detections',
    to: 'block_events',
    description: 'Writes a `block` row to block_events for each live detection that blocks (action block, mode live), with the actor `scorer` and the note `detection <id>`: the audit trail of the scorer\'s blocks is written by ClickHouse as the detection is stored.',
  },
];
