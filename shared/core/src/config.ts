/**
 * The one validated configuration of the ipwatch services. This module is the only place
 * that reads the environment: everything else receives a frozen `IpwatchConfig`.
 *
 * No configuration means embedded (in-process event log, chDB on disk, in-process state);
 * naming a broker, a ClickHouse URL or a Redis URL switches that part to its server.
 */
import { resolve } from 'node:path';
import { IpwatchError } from './errors.ts';
import type { BlockScope } from './blockTarget.ts';
import { parseHostAllowEntry } from './hostGuard.ts';
import { ALERT_CONFIG_VARIABLES, readAlertsConfig, type AlertsConfig } from './alertsConfig.ts';

export type { AlertsConfig, EmailSettings, SmtpTls } from './alertsConfig.ts';

export interface IpwatchConfig {
  /** Where embedded state lives (chDB data, persisted state). */
  dataDir: string;
  kafka: { brokers: string[]; clientId: string; topicPartitions: number } | null;
  clickhouse: { url: string; username: string; password: string; database: string } | null;
  redis: { url: string } | null;
  /** token: IPWATCH_API_TOKEN as given (what the CLI sends); scorerToken: IPWATCH_SCORER_TOKEN. Both checked by parseApiToken. */
  api: { host: string; port: number; token: string | null; scorerToken: string | null };
  /** Port of each service's /metrics and /healthz endpoint (0: pick a free one). */
  metricsPort: number;
  /** Who may read /metrics and /healthz beyond loopback: IPWATCH_METRICS_TOKEN, IPWATCH_METRICS_ALLOW. */
  metricsAccess: { token: string | null; allow: string[] };
  sink: { batchSize: number; flushMs: number };
  /** cacheTtlMs: how long the enricher keeps one address's answer (an erased address leaves every enricher's cache within it). */
  geo: { cacheSize: number; cacheTtlMs: number; onlineProviders: string[]; onlineTimeoutMs: number };
  /** How long data about visitors is kept, per place (README, "Privacy"): applied by `ipwatch migrate` (tables) and `ipwatch topics` (streams). */
  retention: RetentionConfig;
  /** Erasure's guard against a typo'd range, and the visitors whose addresses are never stored (README, "Privacy"). */
  privacy: PrivacyConfig;
  /** The guards of `ipwatch sql` and POST /api/v1/sql (README, "SQL for analysts"). */
  sql: SqlLimits;
  scorer: { warmupMs: number; v6Prefix: number; maxClients: number };
  /** The alerter: channels, storm control, retries, the daily report (alertsConfig.ts). */
  alerts: AlertsConfig;
  /** The widest range a block may cover without force (IPWATCH_BLOCK_MAX_PREFIX_V4, _V6). */
  blocks: BlockScope;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface RetentionConfig {
  /** requests, and its per-client sketches (requests_top_hourly, requests_top_5min): IPWATCH_RETENTION_DAYS. */
  requestsDays: number;
  rateLimitEventsDays: number;
  detectionsDays: number;
  blockEventsDays: number;
  /** privacy_audit: who exported, erased or queried what, and when (no addresses). */
  auditDays: number;
  /** requests_per_minute: counts per minute, app, country and status class, and a distinct-count sketch of hashed addresses. */
  rollupsDays: number;
  /** The stream topics (raw and enriched requests, rate-limit events, detections). */
  topicHours: number;
  /** The dead-letter topic (events that could not be read, kept to be looked at). */
  dlqDays: number;
}

export interface PrivacyConfig {
  /** The widest range `ipwatch privacy erase` covers without --force (prefix lengths). */
  eraseMaxPrefixV4: number;
  eraseMaxPrefixV6: number;
  /**
   * Countries (ISO 3166 codes, "DE") and regions ("US/California", as the geolocation names
   * them) whose visitors' addresses are never stored: the enricher withholds them.
   */
  optOutRegions: string[];
}

/** What an analyst's query may read, return, take and hold before ClickHouse stops it. */
export interface SqlLimits {
  maxRowsRead: number;
  maxResultRows: number;
  maxResultBytes: number;
  maxSeconds: number;
  maxMemoryMb: number;
}

export class ConfigError extends IpwatchError {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super('IPWATCH_CONFIG_INVALID', `invalid ipwatch configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSee README.md, "Configuration", for every variable and its default.`);
  }
}

/** Every variable the services read, with what it does: printed by `ipwatch config --help` and the README. */
export const CONFIG_VARIABLES: Record<string, string> = {
  IPWATCH_DATA_DIR: 'embedded state directory (default ./.ipwatch)',
  IPWATCH_KAFKA_BROKERS: 'comma-separated host:port list; set = Kafka, unset = in-process event log',
  IPWATCH_KAFKA_CLIENT_ID: 'Kafka client id (default ipwatch)',
  IPWATCH_TOPIC_PARTITIONS: 'partitions of the stream topics that `ipwatch topics` creates (default 6)',
  IPWATCH_CLICKHOUSE_URL: 'http(s)://host:8123 of a ClickHouse server; unset = chDB in-process',
  IPWATCH_CLICKHOUSE_USER: 'ClickHouse user (default default)',
  IPWATCH_CLICKHOUSE_PASSWORD: 'ClickHouse password (default empty)',
  IPWATCH_CLICKHOUSE_DATABASE: 'ClickHouse database (default ipwatch)',
  IPWATCH_REDIS_URL: 'redis://host:6379; unset = in-process state',
  IPWATCH_API_HOST: 'api listen address (default 127.0.0.1)',
  IPWATCH_API_PORT: 'api port (default 7070)',
  IPWATCH_API_TOKEN: 'bearer token the api requires and the CLI sends: a secret of 32+ characters (openssl rand -hex 32), or name:secret to name who uses it in the audit trail (default name admin; default: none, loopback only)',
  IPWATCH_SCORER_TOKEN: 'the scorer\'s own token (same form, default name scorer): the only caller that may block with a rule\'s name as source (default: none)',
  IPWATCH_METRICS_PORT: 'port of a service\'s /metrics and /healthz (default 9464; 0 = any free port)',
  IPWATCH_METRICS_TOKEN: 'bearer token /metrics and /healthz then require, from any Host (32+ characters; default: none, requests addressed to loopback only)',
  IPWATCH_METRICS_ALLOW: 'comma list of names a service is scraped under (Host) and scrapers\' networks (CIDRs) /metrics and /healthz also answer, e.g. sink,10.0.0.0/8 (default none)',
  IPWATCH_SINK_BATCH_SIZE: 'rows per ClickHouse insert at most (default 20000)',
  IPWATCH_SINK_FLUSH_MS: 'longest a row waits before its batch is inserted (default 1000)',
  IPWATCH_GEO_CACHE_SIZE: 'entries in the enricher\'s LRU cache (default 100000)',
  IPWATCH_GEO_ONLINE_PROVIDERS: 'comma list of online geo providers tried after the offline data, e.g. ipapi=http://host/{ip}; default none',
  IPWATCH_GEO_ONLINE_TIMEOUT_MS: 'timeout of one online geo lookup (default 1500)',
  IPWATCH_GEO_CACHE_TTL_SECONDS: 'longest the enricher keeps one address\'s geolocation in its cache, so an erased address leaves every enricher within it (default 3600; 0 = until evicted)',
  IPWATCH_RETENTION_DAYS: 'days of request rows (and their per-client sketches) kept in ClickHouse, 1 to 10000 (default 90)',
  IPWATCH_RETENTION_RATE_LIMIT_DAYS: 'days of rate-limit refusals kept in ClickHouse, 1 to 10000 (default 90)',
  IPWATCH_RETENTION_DETECTIONS_DAYS: 'days of detections kept in ClickHouse, 1 to 10000 (default 365)',
  IPWATCH_RETENTION_BLOCK_EVENTS_DAYS: 'days of block history (block_events) kept in ClickHouse, 1 to 10000 (default 365)',
  IPWATCH_RETENTION_AUDIT_DAYS: 'days of the privacy audit log (exports, erasures, queries) kept, 1 to 10000 (default 1095)',
  IPWATCH_RETENTION_ROLLUP_DAYS: 'days of the per-minute rollup (counts, and a distinct-count sketch of hashed addresses) kept, 1 to 10000 (default 400)',
  IPWATCH_TOPIC_RETENTION_HOURS: 'hours the stream topics keep events (raw and enriched requests, rate-limit events, detections), applied by `ipwatch topics` (default 168)',
  IPWATCH_DLQ_RETENTION_DAYS: 'days the dead-letter topic keeps events that could not be read (default 30)',
  IPWATCH_ERASE_MAX_PREFIX_V4: 'widest IPv4 range `ipwatch privacy erase` covers without --force, as a prefix length (default 24)',
  IPWATCH_ERASE_MAX_PREFIX_V6: 'widest IPv6 range `ipwatch privacy erase` covers without --force (default 48)',
  IPWATCH_SQL_MAX_ROWS_READ: 'rows an `ipwatch sql` query may read before ClickHouse stops it (default 100000000)',
  IPWATCH_SQL_MAX_RESULT_ROWS: 'rows an `ipwatch sql` query may return (default 10000)',
  IPWATCH_SQL_MAX_RESULT_BYTES: 'bytes an `ipwatch sql` result may hold (default 52428800)',
  IPWATCH_SQL_MAX_SECONDS: 'seconds an `ipwatch sql` query may run (default 30)',
  IPWATCH_SQL_MAX_MEMORY_MB: 'memory an `ipwatch sql` query may hold, in MB (default 2048)',
  IPWATCH_OPT_OUT_REGIONS: 'comma list of countries (DE) and regions (US/California) whose visitors\' addresses are never stored (default none)',
  IPWATCH_SCORER_WARMUP_MINUTES: 'minutes of recent requests a starting scorer re-reads to rebuild its windows (default 15; 0 = start empty)',
  IPWATCH_SCORER_V6_PREFIX: 'IPv6 clients are scored and blocked per network of this prefix length (default 64)',
  IPWATCH_SCORER_MAX_CLIENTS: 'clients a scorer tracks at once; beyond it the least recently seen are evicted (default 1000000)',
  IPWATCH_LOG_LEVEL: 'debug, info, warn or error (default info)',
  IPWATCH_BLOCK_MAX_PREFIX_V4: 'widest IPv4 range a block may cover without --force, as a prefix length (default 16: a /15 needs --force)',
  IPWATCH_BLOCK_MAX_PREFIX_V6: 'widest IPv6 range a block may cover without --force, as a prefix length (default 32)',
  ...ALERT_CONFIG_VARIABLES,
};

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Readonly<IpwatchConfig> {
  const problems: string[] = [];
  const str = (name: string, fallback: string): string => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? fallback : v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const url = (name: string, protocols: string[]): string | null => {
    const raw = env[name]?.trim();
    if (!raw) return null;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name}=${JSON.stringify(raw)} is not a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
      return null;
    }
  };

  const brokersRaw = str('IPWATCH_KAFKA_BROKERS', '');
  const brokers = brokersRaw === '' ? [] : brokersRaw.split(',').map((b) => b.trim()).filter(Boolean);
  for (const b of brokers) {
    if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(b)) problems.push(`IPWATCH_KAFKA_BROKERS: ${JSON.stringify(b)} is not host:port`);
  }
  const chUrl = url('IPWATCH_CLICKHOUSE_URL', ['http:', 'https:']);
  const redisUrl = url('IPWATCH_REDIS_URL', ['redis:', 'rediss:']);
  const database = str('IPWATCH_CLICKHOUSE_DATABASE', 'ipwatch');
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) problems.push(`IPWATCH_CLICKHOUSE_DATABASE=${JSON.stringify(database)} must be a plain identifier (letters, digits, _)`);
  const logLevel = str('IPWATCH_LOG_LEVEL', 'info');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push(`IPWATCH_LOG_LEVEL=${JSON.stringify(logLevel)} must be debug, info, warn or error`);
  const tokens: ApiToken[] = [];
  const checkedToken = (name: string, defaultName: string): string | null => {
    const raw = env[name]?.trim() || null;
    if (raw === null) return null;
    try {
      tokens.push(parseApiToken(name, raw, defaultName));
    } catch (err) {
      problems.push(...(err as ConfigError).problems);
    }
    return raw;
  };
  const metricsAccess = readMetricsAccess(env, problems);
  const providers = str('IPWATCH_GEO_ONLINE_PROVIDERS', '').split(',').map((p) => p.trim()).filter(Boolean);

  const config: IpwatchConfig = {
    dataDir: resolve(cwd, str('IPWATCH_DATA_DIR', '.ipwatch')),
    kafka: brokers.length
      ? { brokers, clientId: str('IPWATCH_KAFKA_CLIENT_ID', 'ipwatch'), topicPartitions: int('IPWATCH_TOPIC_PARTITIONS', 6, 1, 1000) }
      : null,
    clickhouse: chUrl
      ? { url: chUrl, username: str('IPWATCH_CLICKHOUSE_USER', 'default'), password: env.IPWATCH_CLICKHOUSE_PASSWORD ?? '', database }
      : null,
    redis: redisUrl ? { url: redisUrl } : null,
    api: {
      host: str('IPWATCH_API_HOST', '127.0.0.1'),
      port: int('IPWATCH_API_PORT', 7070, 0, 65535),
      token: checkedToken('IPWATCH_API_TOKEN', 'admin'),
      scorerToken: checkedToken('IPWATCH_SCORER_TOKEN', 'scorer'),
    },
    metricsPort: int('IPWATCH_METRICS_PORT', 9464, 0, 65535),
    metricsAccess,
    sink: { batchSize: int('IPWATCH_SINK_BATCH_SIZE', 20000, 1, 1_000_000), flushMs: int('IPWATCH_SINK_FLUSH_MS', 1000, 10, 600_000) },
    geo: {
      cacheSize: int('IPWATCH_GEO_CACHE_SIZE', 100_000, 0, 10_000_000),
      cacheTtlMs: int('IPWATCH_GEO_CACHE_TTL_SECONDS', 3600, 0, 30 * 86_400) * 1000,
      onlineProviders: providers,
      onlineTimeoutMs: int('IPWATCH_GEO_ONLINE_TIMEOUT_MS', 1500, 50, 60_000),
    },
    retention: {
      requestsDays: int('IPWATCH_RETENTION_DAYS', 90, 1, 10000),
      rateLimitEventsDays: int('IPWATCH_RETENTION_RATE_LIMIT_DAYS', 90, 1, 10000),
      detectionsDays: int('IPWATCH_RETENTION_DETECTIONS_DAYS', 365, 1, 10000),
      blockEventsDays: int('IPWATCH_RETENTION_BLOCK_EVENTS_DAYS', 365, 1, 10000),
      auditDays: int('IPWATCH_RETENTION_AUDIT_DAYS', 1095, 1, 10000),
      rollupsDays: int('IPWATCH_RETENTION_ROLLUP_DAYS', 400, 1, 10000),
      topicHours: int('IPWATCH_TOPIC_RETENTION_HOURS', 168, 1, 10000 * 24),
      dlqDays: int('IPWATCH_DLQ_RETENTION_DAYS', 30, 1, 10000),
    },
    sql: {
      maxRowsRead: int('IPWATCH_SQL_MAX_ROWS_READ', 100_000_000, 1000, 1_000_000_000_000),
      maxResultRows: int('IPWATCH_SQL_MAX_RESULT_ROWS', 10_000, 1, 10_000_000),
      maxResultBytes: int('IPWATCH_SQL_MAX_RESULT_BYTES', 50 * 1024 * 1024, 1024, 10 * 1024 * 1024 * 1024),
      maxSeconds: int('IPWATCH_SQL_MAX_SECONDS', 30, 1, 3600),
      maxMemoryMb: int('IPWATCH_SQL_MAX_MEMORY_MB', 2048, 16, 1024 * 1024),
    },
    privacy: {
      eraseMaxPrefixV4: int('IPWATCH_ERASE_MAX_PREFIX_V4', 24, 0, 32),
      eraseMaxPrefixV6: int('IPWATCH_ERASE_MAX_PREFIX_V6', 48, 0, 128),
      optOutRegions: readOptOutRegions(env, problems),
    },
    scorer: {
      warmupMs: int('IPWATCH_SCORER_WARMUP_MINUTES', 15, 0, 1440) * 60_000,
      v6Prefix: int('IPWATCH_SCORER_V6_PREFIX', 64, 32, 128),
      maxClients: int('IPWATCH_SCORER_MAX_CLIENTS', 1_000_000, 1000, 100_000_000),
    },
    alerts: readAlertsConfig(env, problems),
    blocks: { maxPrefixV4: int('IPWATCH_BLOCK_MAX_PREFIX_V4', 16, 0, 32), maxPrefixV6: int('IPWATCH_BLOCK_MAX_PREFIX_V6', 32, 0, 128) },
    logLevel: logLevel as IpwatchConfig['logLevel'],
  };
  const [a, b] = tokens;
  if (a && b) {
    if (a.secret === b.secret) problems.push('IPWATCH_SCORER_TOKEN must differ from IPWATCH_API_TOKEN: the scorer\'s token is what lets a block name a rule as its source');
    else if (a.name === b.name) problems.push(`IPWATCH_API_TOKEN and IPWATCH_SCORER_TOKEN are both named ${JSON.stringify(a.name)}: give them different names, so the audit trail tells them apart`);
  }
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** A named api credential: `name` is who the audit trail records, `secret` what the bearer proves. */
export interface ApiToken {
  name: string;
  secret: string;
}

/** Shortest secret accepted: 32 characters, as `openssl rand -hex 16` gives at the least. */
export const MIN_TOKEN_LENGTH = 32;
const TOKEN_NAME = /^([a-z][a-z0-9_.@-]{0,63}):(.*)$/;
const HOW_TO_MAKE_A_TOKEN = 'make one with `openssl rand -hex 32` or `node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'hex\'))"`';

/**
 * Reads a token variable: `secret`, or `name:secret` to say who uses it (the name the audit
 * trail records; `defaultName` otherwise). Throws ConfigError naming the variable, never
 * echoing the secret, when the secret is short, has spaces or control characters, or
 * repeats a few characters.
 *
 * @example
 * parseApiToken('IPWATCH_API_TOKEN', 'ci:' + 'f'.repeat(8) + '0123456789abcdef0123456789abcdef', 'admin'); // { name: 'ci', secret: ... }
 */
export function parseApiToken(variable: string, raw: string, defaultName: string): ApiToken {
  const named = TOKEN_NAME.exec(raw);
  const token = named ? { name: named[1] as string, secret: named[2] as string } : { name: defaultName, secret: raw };
  const weak =
    token.secret.length < MIN_TOKEN_LENGTH ? `its secret has ${token.secret.length} character${token.secret.length === 1 ? '' : 's'}; at least ${MIN_TOKEN_LENGTH} are needed`
    : !/^[\x21-\x7e]+$/.test(token.secret) ? 'its secret has spaces, control or non-ASCII characters, which an Authorization header cannot carry intact'
    : new Set(token.secret).size < 8 ? 'its secret repeats a few characters (fewer than 8 distinct), so it is easy to guess'
    : null;
  if (weak) throw new ConfigError([`${variable} is too weak: ${weak}; ${HOW_TO_MAKE_A_TOKEN} (write name:secret to name who uses it)`]);
  // The audit trail records unauthenticated loopback requests as "local".
  if (token.name === 'local') throw new ConfigError([`${variable} is named "local", the name the audit trail gives unauthenticated loopback requests: write another name before the colon`]);
  return token;
}

/** IPWATCH_OPT_OUT_REGIONS: "DE" (a country code) or "US/California" (a country and a region as the geolocation names it). */
function readOptOutRegions(env: Env, problems: string[]): string[] {
  const entries = (env.IPWATCH_OPT_OUT_REGIONS ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    if (!/^[A-Za-z]{2}(\/[^/\x00-\x1f]{1,100})?$/.test(entry)) {
      problems.push(`IPWATCH_OPT_OUT_REGIONS: ${JSON.stringify(entry)} is neither a two-letter country code (DE) nor a country and a region (US/California)`);
    }
  }
  return entries.map((e) => (e.length === 2 ? e.toUpperCase() : `${e.slice(0, 2).toUpperCase()}${e.slice(2)}`));
}

/** IPWATCH_METRICS_TOKEN and IPWATCH_METRICS_ALLOW, each entry checked as the server will read it. */
function readMetricsAccess(env: Env, problems: string[]): IpwatchConfig['metricsAccess'] {
  const token = env.IPWATCH_METRICS_TOKEN?.trim() || null;
  if (token !== null && (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token))) {
    problems.push(`IPWATCH_METRICS_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters without spaces or control characters (a scraper sends it in an Authorization header): make one with \`openssl rand -hex 32\``);
  }
  const allow = (env.IPWATCH_METRICS_ALLOW ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of allow) {
    const parsed = parseHostAllowEntry(entry);
    if (typeof parsed === 'string') problems.push(`IPWATCH_METRICS_ALLOW: ${parsed}`);
  }
  return { token, allow };
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
