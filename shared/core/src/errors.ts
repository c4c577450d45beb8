/**
 * The one registry of errors a user or an operator can see, in the manner of fastify's
 * `lib/errors.js`: each has a stable code (`IPWATCH_...`), the HTTP status the api answers
 * with, the exit code the CLI uses, and what to do about it. The api and the CLI map any
 * error through here (`statusOf`, `exitCodeOf`), never through lists of `instanceof`.
 *
 * The README's "Errors" table lists every code; a test keeps the two in step.
 *
 * @example
 * throw new IpwatchError('IPWATCH_BAD_FILTER', '--limit "0" must be a whole number from 1 to 10000');
 * // api: 400 {"error": "--limit ...", "code": "IPWATCH_BAD_FILTER"}; CLI: "ipwatch logs: --limit ...", exit 2
 */

export interface ErrorSpec {
  /** The HTTP status the api answers with. */
  readonly status: number;
  /**
   * The exit code of the CLI: 2 when nothing was done and the message says what to change
   * (the command, its input, the configuration, a service to start); 1 when something broke.
   */
  readonly exit: number;
  /** What the error means, in a line, for the README's table. */
  readonly meaning: string;
  /** What to do about it, in a line, for the README's table. */
  readonly action: string;
}

export const ERRORS = {
  // An app starting with the emitter: thrown at construction, never per request.
  IPWATCH_BAD_OPTION: {
    status: 500,
    exit: 2,
    meaning: 'an option given to an emitter factory (ipwatch(), createRateLimiter(), ...) is missing, of the wrong type or out of range',
    action: 'fix the option the message names; it is checked at start, never per request',
  },
  IPWATCH_NO_EVENT_LOG: {
    status: 500,
    exit: 2,
    meaning: 'an emitter (ipwatch(), withIpwatch(), the Fastify plugin) was created with nowhere to send events',
    action: "pass `log: createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'my-app' })` (or `buffer`)",
  },
  IPWATCH_PLUGIN_REGISTERED_TWICE: {
    status: 500,
    exit: 2,
    meaning: 'the ipwatch Fastify plugin was registered twice on one Fastify instance (every request would be logged and limited twice)',
    action: 'register it once, on the root instance, before your routes',
  },

  // A service or the CLI starting.
  IPWATCH_CONFIG_INVALID: {
    status: 500,
    exit: 2,
    meaning: 'an IPWATCH_* environment variable is malformed or contradicts another',
    action: 'fix the variables listed; README "Configuration" gives each one and its default',
  },
  IPWATCH_GEO_PROVIDER_INVALID: {
    status: 500,
    exit: 2,
    meaning: 'an online geolocation provider (IPWATCH_GEO_ONLINE_PROVIDERS) is not name=urlTemplate with an http(s) URL holding {ip}',
    action: 'fix the provider the message names, e.g. ipapi=http://ip-api.com/json/{ip}',
  },
  IPWATCH_PORT_IN_USE: {
    status: 500,
    exit: 2,
    meaning: 'a port a service listens on (the api, /metrics and /healthz) is held by another process',
    action: 'stop the other process (often another ipwatch), or set the variable the message names (IPWATCH_API_PORT, IPWATCH_METRICS_PORT; 0 picks a free port)',
  },

  // What a person types, to the CLI or the api.
  IPWATCH_USAGE: {
    status: 400,
    exit: 2,
    meaning: 'a command was called with missing, unknown or malformed arguments',
    action: 'run `ipwatch <command> --help` for its options',
  },
  IPWATCH_INVALID_ADDRESS: {
    status: 400,
    exit: 2,
    meaning: 'a target or filter is not an IP address or CIDR, or a CIDR has host bits set',
    action: 'write it as 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48 (the message suggests the network meant)',
  },
  IPWATCH_BAD_FILTER: {
    status: 400,
    exit: 2,
    meaning: 'a filter of the request log or of a list (--status, --since, --limit, --covers, ...) is malformed',
    action: 'use the form the message gives, e.g. --status 4xx, --since 15m, --limit 100',
  },
  IPWATCH_BAD_DECISION: {
    status: 400,
    exit: 2,
    meaning: 'a block or allowlist change has a bad expiry, reason, severity, source or body',
    action: 'fix the field the message names, e.g. --expires +7d, --severity high',
  },
  IPWATCH_INVALID_RULE: {
    status: 400,
    exit: 2,
    meaning: 'a detection rule has a bad field or parameter (an unknown kind, a window outside 1s..7d, a pattern that is not a regular expression or could take forever, a parameter its kind does not take)',
    action: 'fix the field the message names; `ipwatch rules show <id>` lists what each parameter takes',
  },
  IPWATCH_NO_SUCH_RULE: {
    status: 404,
    exit: 2,
    meaning: 'no detection rule has that id',
    action: '`ipwatch rules list` shows the ids; `ipwatch rules set <id> --kind ...` creates a rule',
  },
  IPWATCH_BLOCK_TOO_WIDE: {
    status: 400,
    exit: 2,
    meaning: 'a block would cover a range wider than IPWATCH_BLOCK_MAX_PREFIX_V4/_V6 allow (/16 and /32 by default), or a range holding loopback, private or link-local addresses, so it was refused unforced',
    action: 'block a narrower range; if you mean it, repeat with --force (api: "force": true)',
  },
  IPWATCH_ALLOW_TOO_WIDE: {
    status: 400,
    exit: 2,
    meaning: 'an allowlist entry would cover a range wider than /8 (IPv4) or /16 (IPv6), exempting a large part of the internet from every block and rate limit, so it was refused unforced',
    action: 'allow a narrower range; if you mean it, repeat with --force (api: "force": true)',
  },
  IPWATCH_ERASE_TOO_WIDE: {
    status: 400,
    exit: 2,
    meaning: 'an erasure would cover a range wider than IPWATCH_ERASE_MAX_PREFIX_V4/_V6 allow (/24 and /48 by default: a typo of /8 for /28 would erase a part of the internet), so it was refused unforced',
    action: 'check the range; if you mean it, repeat with --force (api: "force": true)',
  },
  IPWATCH_SQL_REFUSED: {
    status: 403,
    exit: 2,
    meaning: 'an `ipwatch sql` query would write, change a setting, or reach files or the network (INSERT, ALTER, DROP, SYSTEM, SET, file(), url(), remote()...): ClickHouse refused it in read-only mode',
    action: 'ask with SELECT; changes to ipwatch go through its commands and api',
  },
  IPWATCH_SQL_LIMIT: {
    status: 422,
    exit: 2,
    meaning: 'an `ipwatch sql` query would read, return, run or hold more than a limit allows (IPWATCH_SQL_MAX_ROWS_READ, _RESULT_ROWS, _RESULT_BYTES, _SECONDS, _MEMORY_MB), so ClickHouse stopped it',
    action: 'narrow the query (a time range on ts, a LIMIT, a rollup), or raise the variable the message names',
  },
  IPWATCH_SQL_INVALID: {
    status: 400,
    exit: 2,
    meaning: 'ClickHouse could not run an `ipwatch sql` query as written (syntax, an unknown table or column, types)',
    action: 'fix the query; docs/TABLES.md lists every table and column, the README\'s cookbook has examples',
  },
  IPWATCH_UNKNOWN_PARAMETER: {
    status: 400,
    exit: 2,
    meaning: 'a query parameter or a field of a change the endpoint does not take (a typo such as expiry for expires, ip[]=, another endpoint\'s name) was refused rather than ignored, so a filter never silently widens and a change is made as meant',
    action: 'use the parameters or fields the message lists, each once, e.g. GET /api/v1/requests?ip=203.0.113.7&since=1h',
  },
  IPWATCH_NOT_LISTED: {
    status: 404,
    exit: 2,
    meaning: 'the target to unblock or remove from the allowlist is not on that list as written',
    action: 'write it as `ipwatch blocks` (or `allow --list`) shows it; `ipwatch blocks --covers IP` shows the ranges that hold an address',
  },

  // The api refusing a request before it reaches a route.
  IPWATCH_BAD_TOKEN: {
    status: 401,
    exit: 2,
    meaning: 'the api requires a token (IPWATCH_API_TOKEN) and the request had none or another one',
    action: 'set IPWATCH_API_TOKEN to the api\'s token (the CLI sends it as "Authorization: Bearer ...")',
  },
  IPWATCH_AUTH_THROTTLED: {
    status: 429,
    exit: 2,
    meaning: 'the client sent too many wrong API tokens within a minute, so the api refuses it (whatever it sends) until the minute ends',
    action: 'wait the seconds Retry-After gives, then retry with the right IPWATCH_API_TOKEN',
  },
  IPWATCH_RESERVED_SOURCE: {
    status: 403,
    exit: 2,
    meaning: 'a block named a detection rule as its source, which only the scorer\'s own token (IPWATCH_SCORER_TOKEN) may do',
    action: 'leave source out (manual) or use import; a rule\'s blocks come from the scorer',
  },
  IPWATCH_LOOPBACK_ONLY: {
    status: 403,
    exit: 2,
    meaning: 'the api has no token, so it answers only requests addressed to 127.0.0.1, localhost or [::1]',
    action: 'call it on 127.0.0.1, or give the api a token (IPWATCH_API_TOKEN) to reach it by another name',
  },
  IPWATCH_CROSS_ORIGIN: {
    status: 403,
    exit: 2,
    meaning: 'a web page of another origin called the api (the api is for the CLI and the dashboard it serves)',
    action: 'call the api from the CLI or a page the api serves; it does not answer other sites',
  },
  IPWATCH_METRICS_NOT_ALLOWED: {
    status: 403,
    exit: 2,
    meaning: '/metrics or /healthz was asked under a Host that is not loopback nor a name in IPWATCH_METRICS_ALLOW, by a client outside its networks (a web page using DNS rebinding looks like this)',
    action: 'scrape on 127.0.0.1, or set IPWATCH_METRICS_TOKEN (the scraper sends it as a bearer token) or IPWATCH_METRICS_ALLOW (the names the service is scraped under, the scrapers\' networks)',
  },
  IPWATCH_METRICS_BAD_TOKEN: {
    status: 401,
    exit: 2,
    meaning: 'IPWATCH_METRICS_TOKEN is set and a request to /metrics or /healthz had no such bearer token, from a client outside IPWATCH_METRICS_ALLOW\'s networks',
    action: 'send "Authorization: Bearer <token>" (Prometheus: authorization.credentials; a probe: its HTTP headers), or list the client\'s network in IPWATCH_METRICS_ALLOW',
  },
  IPWATCH_NOT_JSON: {
    status: 415,
    exit: 2,
    meaning: 'a change was sent as something other than JSON',
    action: 'send it with Content-Type: application/json',
  },
  IPWATCH_BAD_BODY: {
    status: 400,
    exit: 2,
    meaning: 'the body of a change is not valid JSON',
    action: 'send one JSON object, e.g. {"target":"203.0.113.7","reason":"scanner"}',
  },
  IPWATCH_BODY_TOO_LARGE: {
    status: 413,
    exit: 2,
    meaning: 'the body of a change is larger than the api accepts (16 kB; 8 MB for an import)',
    action: 'split an import into several files of at most 100,000 lines',
  },
  IPWATCH_NO_SUCH_ENDPOINT: {
    status: 404,
    exit: 2,
    meaning: 'no api endpoint has that path (often a CLI and an api of different versions)',
    action: 'use a path GET /api/v1/openapi.json lists (e.g. GET /api/v1/requests, /api/v1/blocks, /api/v1/status); run a CLI of the api\'s version',
  },
  IPWATCH_LISTS_UNAVAILABLE: {
    status: 503,
    exit: 1,
    meaning: 'this api runs without the event log, so it cannot list or change blocks and the allowlist',
    action: 'call an api started by `ipwatch dev` or `ipwatch run api`, which read the lists from the event log',
  },
  IPWATCH_PRIVACY_UNAVAILABLE: {
    status: 503,
    exit: 1,
    meaning: 'this api was started without the privacy service, so it cannot export or erase what is stored about a person, nor show the privacy audit log',
    action: 'call the api of `ipwatch dev`, `npm start` or `ipwatch run api`, which serve /api/v1/privacy',
  },
  IPWATCH_SQL_UNAVAILABLE: {
    status: 503,
    exit: 1,
    meaning: 'this api was started without the SQL service, so it cannot run analysts\' queries (POST /api/v1/sql, `ipwatch sql`)',
    action: 'call the api of `ipwatch dev`, `npm start` or `ipwatch run api`, which serve /api/v1/sql; against a ClickHouse server, `ipwatch sql` runs the query itself (IPWATCH_CLICKHOUSE_URL)',
  },

  // The CLI talking to the api.
  IPWATCH_API_UNREACHABLE: {
    status: 503,
    exit: 2,
    meaning: 'nothing answers at the api\'s address (IPWATCH_API_HOST, IPWATCH_API_PORT)',
    action: 'start ipwatch (`npm start`) or the api service (`ipwatch run api`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it',
  },
  IPWATCH_API_REFUSED: {
    status: 502,
    exit: 2,
    meaning: 'the api refused a request with an answer that carries no ipwatch code (another version, or another program on that port)',
    action: 'read the message; check that IPWATCH_API_PORT points at an ipwatch api of the CLI\'s version',
  },

  // The store.
  IPWATCH_STORE_UNREACHABLE: {
    status: 503,
    exit: 1,
    meaning: 'the ClickHouse server (IPWATCH_CLICKHOUSE_URL) does not answer, or refuses the user',
    action: 'check IPWATCH_CLICKHOUSE_URL, its user and password, and that the server is up; unset it to use chDB in-process',
  },
  IPWATCH_SCHEMA_BEHIND: {
    status: 503,
    exit: 1,
    meaning: 'the ClickHouse schema lacks migrations this version needs, so the sink would write to tables that are not there',
    action: 'run `ipwatch migrate` (with the same IPWATCH_CLICKHOUSE_* settings), then start the sink again',
  },

  // The pipeline: what operators see in logs, metrics and the dead-letter topic.
  IPWATCH_MALFORMED_EVENT: {
    status: 400,
    exit: 1,
    meaning: 'bytes on a topic are not one value of its Avro schema (truncated, trailing bytes, another schema)',
    action: 'nothing to retry: the message goes to the DLQ; find its producer (an emitter of another version?) from the DLQ record',
  },
  IPWATCH_UNSTORABLE_EVENT: {
    status: 422,
    exit: 1,
    meaning: 'an event decoded but cannot become a ClickHouse row (e.g. its ip is not an IP address)',
    action: 'nothing to retry: the sink sends it to the DLQ and carries on; fix the producer the DLQ record names',
  },
  IPWATCH_SHARED_LISTS_BAD_ENTRY: {
    status: 400,
    exit: 1,
    meaning: 'a block or allowlist entry written to the shared lists (Redis or in-process) is empty, too long, holds | or a line break, or has a bad expiry',
    action: 'a bug upstream of the shared lists: report it with the message; the entry was not written',
  },
  IPWATCH_ASN_DATA_INVALID: {
    status: 500,
    exit: 1,
    meaning: 'the offline ASN table (@ip-location-db/asn) is malformed or unsorted',
    action: 'reinstall it (`npm ci` at the repository root)',
  },
  IPWATCH_ALERT_CHANNEL_FAILED: {
    status: 502,
    exit: 1,
    meaning: 'an alert channel (SMTP server, webhook) refused or did not answer; the alerter retries with back-off, then gives the alert up to the DLQ',
    action: 'read the message (it names the channel and the server\'s answer); check the IPWATCH_SMTP_* or IPWATCH_ALERT_*_URL settings, then `ipwatch alerts test`',
  },
  IPWATCH_INTERNAL: {
    status: 500,
    exit: 1,
    meaning: 'an unexpected failure (a bug, or a component failing in a way ipwatch does not know)',
    action: 'see the service log for the stack; report it with the message',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An error ipwatch raises on purpose. Subclasses (ConfigError, FilterError, ...) fix the
 * code; the message says what was wrong and what to do.
 */
export class IpwatchError extends Error {
  override name = 'IpwatchError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The HTTP status the api answers with. */
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The CLI's exit code. */
  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** True for an error raised through the registry. */
export function isIpwatchError(err: unknown): err is IpwatchError {
  return err instanceof IpwatchError;
}

/** True for a code the registry holds: what a client checks before trusting a code an answer carries. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** The HTTP status for any error: the registry's for ours, 500 for the rest. */
export function statusOf(err: unknown): number {
  return isIpwatchError(err) ? err.status : ERRORS.IPWATCH_INTERNAL.status;
}

/** The CLI exit code for any error: the registry's for ours, 1 for the rest. */
export function exitCodeOf(err: unknown): number {
  return isIpwatchError(err) ? err.exitCode : ERRORS.IPWATCH_INTERNAL.exit;
}

/**
 * The README's "Errors" table, row for row from the registry; the test compares the two and
 * prints this on a mismatch, ready to paste.
 */
export function errorsTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| code | HTTP status | exit code | meaning | what to do |',
    '| --- | --- | --- | --- | --- |',
    ...Object.entries(ERRORS).map(([code, e]: [string, ErrorSpec]) => `| \`${code}\` | ${e.status} | ${e.exit} | ${cell(e.meaning)} | ${cell(e.action)} |`),
  ].join('\n');
}
