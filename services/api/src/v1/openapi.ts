/**
 * The OpenAPI 3.1 document of API v1, as data: every path and method the api serves under
 * /api/v1, its parameters (types, patterns, enums, limits), request bodies, and responses with
 * their JSON Schemas, errors included ({error, code}, the codes from the errors registry).
 * Served at GET /api/v1/openapi.json; test/openapi.chdb.test.ts checks that it names every
 * route Express serves and that real answers match its schemas, so it cannot drift silently.
 *
 * Limits and enums come from the code that enforces them (MAX_LIMIT, RULE_KINDS, ERRORS...)
 * wherever that code exports them.
 */
import { ERRORS, type ErrorCode } from '@ipwatch/core/errors';
import { RULE_ID, RULE_KINDS, RULE_MODES, SEVERITIES } from '@ipwatch/core/rules';
import { DEFAULT_REPORT_TOP, MAX_ANALYSIS_HOURS, MAX_LIMIT, MAX_LOG_PAGE, MAX_REPORT_TOP } from '@ipwatch/store';
import { MAX_IMPORT } from '../listChanges.ts';
import { DEFAULT_ANALYSIS_HOURS } from '../analysis.ts';
import { BUCKET, DETECTION_RULE, LIMIT_RULE, MAX_DETECTIONS_PAGE, MAX_OVERVIEW_DAYS, MAX_RATE_LIMIT_ROWS } from './trafficViews.ts';

/** Where API v1 lives; the document's paths are relative to it (its `servers` entry). */
export const API_V1 = '/api/v1';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON Schema (2020-12, the dialect OpenAPI 3.1 uses), or any piece of the document. */
export type JsonObject = { [key: string]: JsonValue };

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

export interface Operation extends JsonObject {
  operationId: string;
  summary: string;
  tags: string[];
  responses: JsonObject;
}

export interface OpenApiDocument extends JsonObject {
  openapi: '3.1.0';
  info: JsonObject;
  servers: JsonObject[];
  paths: { [path: string]: { [method in HttpMethod]?: Operation } };
  components: JsonObject;
}

// ---- schema shorthands ---------------------------------------------------------------

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const text: JsonObject = { type: 'string' };
const flag: JsonObject = { type: 'boolean' };
const num: JsonObject = { type: 'number' };
const count: JsonObject = { type: 'integer', minimum: 0 };
const epochMs: JsonObject = { type: 'integer', description: 'milliseconds since the epoch (UTC)' };
const ratio: JsonObject = { type: ['number', 'null'], description: '(value - previous) / previous: 0.04 is +4%; null when previous is 0' };
const nullable = (schema: JsonObject): JsonObject => ('$ref' in schema ? { anyOf: [schema, { type: 'null' }] } : { ...schema, type: [schema.type as string, 'null'] });
const list = (items: JsonObject, extra: JsonObject = {}): JsonObject => ({ type: 'array', items, ...extra });
const described = (schema: JsonObject, description: string): JsonObject => ('$ref' in schema ? { allOf: [schema], description } : { ...schema, description });
/** A closed object: every property listed; `optional` names the ones that may be absent. */
function object(properties: { [name: string]: JsonObject }, optional: readonly string[] = []): JsonObject {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties).filter((k) => !optional.includes(k)), properties };
}
const textMap: JsonObject = { type: 'object', additionalProperties: text };

// ---- parameters ----------------------------------------------------------------------

function query(name: string, schema: JsonObject, description: string, required = false): JsonObject {
  return { name, in: 'query', required, description, schema };
}
function pathParam(name: string, schema: JsonObject, description: string): JsonObject {
  return { name, in: 'path', required: true, description, schema };
}
const wholeNumber = (min: number, max: number, fallback: number): JsonObject => ({ type: 'integer', minimum: min, maximum: max, default: fallback });
const IP_OR_CIDR: JsonObject = { type: 'string', minLength: 1, maxLength: 64, examples: ['203.0.113.7', '203.0.113.0/24', '2001:db8::/48'] };
const ONE_IP: JsonObject = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f:.]+$', examples: ['203.0.113.7', '2001:db8::1'] };
const TIME_BOUND: JsonObject = { type: 'string', pattern: '^\\s*(\\d{1,6}[smhdw]|\\d{4}-\\d{2}-\\d{2}.*)\\s*$', examples: ['15m', '2h', '7d', '2026-11-24T10:00:00Z'] };
const RULE_ID_PATTERN = RULE_ID.source;
const STATUS_FILTER: JsonObject = { type: 'string', pattern: '^\\s*([1-5][xX][xX]|\\d{3}|\\d{3}-\\d{3}|>=\\d{3})\\s*$', examples: ['404', '4xx', '400-499', '>=400'] };
const COUNTRY: JsonObject = { type: 'string', pattern: '^\\s*[A-Za-z]{2}\\s*$' };
/** A keyset cursor, <unix ms>,<id>, as a page's `next` gives it. */
const CURSOR: JsonObject = { type: 'string', pattern: '^\\d{1,15},[\\x21-\\x7e]{0,128}$' };
const BOOLEAN_TEXT: JsonObject = { type: 'string', enum: ['true', 'false', '1', '0', 'yes', 'no'] };
/** The request log's fields (LOG_FILTER_FIELDS), each a filter and, as not_NAME, an exclusion. */
const LOG_FIELDS: Array<[string, JsonObject, string]> = [
  ['ip', IP_OR_CIDR, 'address is this IP or inside this CIDR'],
  ['path', { type: 'string', maxLength: 2048 }, 'path holds this text (any case)'],
  ['method', { type: 'string', pattern: '^\\s*[A-Za-z]{1,16}\\s*$' }, 'method is this (GET, POST, ...)'],
  ['status', STATUS_FILTER, 'status is this (404, 4xx, 400-499, >=400)'],
  ['country', COUNTRY, 'country is this two-letter ISO code'],
  ['asn', { type: 'string', pattern: '^\\s*([Aa][Ss])?\\d{1,10}\\s*$', examples: ['13335', 'AS13335'] }, 'network (ASN) is this'],
  ['user', { type: 'string', maxLength: 256 }, 'user id or login username is this'],
  ['ua', { type: 'string', maxLength: 1024 }, 'user agent holds this text'],
];

// ---- errors --------------------------------------------------------------------------

/** The codes of the registry the api may answer with a given status. */
export function codesWithStatus(status: number): ErrorCode[] {
  return (Object.keys(ERRORS) as ErrorCode[]).filter((code) => ERRORS[code].status === status);
}

const ERROR_RESPONSES: { [status: string]: { name: string; description: string } } = {
  400: { name: 'BadRequest', description: 'the request is malformed: a bad filter, parameter, address, change or body (the message names it)' },
  401: { name: 'Unauthorized', description: 'missing or wrong bearer token (WWW-Authenticate: Bearer)' },
  403: { name: 'Forbidden', description: 'refused: a page of another origin, a non-loopback Host when the api has no token, or a block in a rule\'s name without the scorer\'s token' },
  404: { name: 'NotFound', description: 'nothing of that name: the rule, the entry to remove, or the endpoint' },
  413: { name: 'PayloadTooLarge', description: 'the body is larger than the api accepts (16 kB; 256 kB for a rule; 8 MB for an import)' },
  415: { name: 'UnsupportedMediaType', description: 'a change sent as something other than application/json' },
  429: { name: 'TooManyRequests', description: 'too many wrong tokens from this address: wait Retry-After seconds' },
  500: { name: 'InternalError', description: 'an unexpected failure; the service log has the cause (never the answer)' },
  503: { name: 'ServiceUnavailable', description: 'this api runs without the event log, so it cannot list or change blocks, the allowlist or the rules' },
};

const errorResponse = (status: string): JsonObject => ({ $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` });

/** Every operation's refusals: the request (400), the token (401, 429), the origin/Host (403), failures (500). */
const COMMON_ERRORS = ['400', '401', '403', '429', '500'];

function responses(ok: { [status: string]: { description: string; schema: JsonObject } }, errors: readonly string[] = []): JsonObject {
  const out: JsonObject = {};
  for (const [status, { description, schema }] of Object.entries(ok)) out[status] = { description, content: { 'application/json': { schema } } };
  for (const status of [...COMMON_ERRORS, ...errors].sort()) out[status] = errorResponse(status);
  return out;
}

const jsonBody = (schema: JsonObject, description: string): JsonObject => ({ required: true, description, content: { 'application/json': { schema } } });

// ---- component schemas ---------------------------------------------------------------

const SEVERITY: JsonObject = { type: 'string', enum: [...SEVERITIES] };
const FIGURE = ref('Figure');

/** A top-list count from the store's heavy-hitter sketches (the overview's lists). */
const SKETCHED: { [name: string]: JsonObject } = {
  requests: count,
  previous: described(nullable(count), 'in the previous range; null when the sketch does not know it'),
  change: ratio,
  error: described(count, 'the sketch\'s error bound on requests (0: exact)'),
};

/** The record a block is (BlockDecision in schemas.ts). */
const BLOCK_DECISION: { [name: string]: JsonObject } = {
  target: described(text, 'an IP address or CIDR, canonical'),
  reason: text,
  source: described(text, 'manual, import, or the id of the detection rule that blocked'),
  severity: SEVERITY,
  createdAt: epochMs,
  expiresAt: nullable(epochMs),
  createdBy: described(text, 'the authenticated caller (a token\'s name, or local)'),
};
const ALLOW_ENTRY: { [name: string]: JsonObject } = { target: text, reason: text, createdAt: epochMs, expiresAt: nullable(epochMs), createdBy: text };
/** What a listing adds to each entry. */
const LISTED: { [name: string]: JsonObject } = { expired: flag, timeLeftMs: nullable(count) };
/** A detection rule as stored (Rule in schemas.ts). */
const RULE: { [name: string]: JsonObject } = {
  id: { type: 'string', pattern: RULE_ID_PATTERN },
  kind: { type: 'string', enum: Object.keys(RULE_KINDS) },
  enabled: flag,
  windowMs: { type: 'integer', minimum: 1000, maximum: 7 * 86_400_000 },
  threshold: { type: 'number', minimum: 0 },
  severity: SEVERITY,
  autoBlock: flag,
  blockForMs: nullable({ type: 'integer', minimum: 1000 }),
  params: textMap,
  updatedAt: epochMs,
  description: { type: 'string', maxLength: 500 },
  mode: { type: 'string', enum: [...RULE_MODES] },
  escalation: list({ type: 'integer', minimum: 1000 }, { maxItems: 10 }),
  escalationMemoryMs: count,
  quietMs: count,
  updatedBy: text,
};

const schemas: { [name: string]: JsonObject } = {
  Error: {
    ...object({ error: described(text, 'what was wrong and what to do, for a person'), code: { type: 'string', enum: Object.keys(ERRORS), description: 'the errors registry\'s code (README "Errors")' } }),
    description: 'Every refusal and failure answers this.',
  },
  Status: {
    type: 'object',
    required: ['ok'],
    additionalProperties: true,
    properties: { ok: { const: true }, mode: { type: 'object', description: 'the event log and analytics engines this api runs on', additionalProperties: true } },
  },
  RequestRow: object({
    ts: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', description: 'ISO-8601, UTC' },
    ip: described(text, 'IPv4 as such, IPv6 otherwise'),
    method: text,
    host: text,
    path: described(text, 'as the client sent it: attacker-controlled text'),
    status: { type: 'integer', minimum: 0, maximum: 999 },
    latency_ms: { type: 'number', minimum: 0 },
    bytes: count,
    user_agent: text,
    referer: text,
    user_id: nullable(text),
    authenticated: flag,
    blocked: described(flag, 'answered 403 by ipwatch\'s block list'),
    rate_limited: described(flag, 'refused by ipwatch\'s rate limits'),
    country: described(text, 'ISO 3166 code, or empty when unknown'),
    region: text,
    city: text,
    latitude: nullable(num),
    longitude: nullable(num),
    asn: count,
    org: text,
    app: text,
  }),
  RequestLogRow: object({
    event_id: text,
    ts: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$', description: 'ISO-8601, UTC, to the millisecond' },
    ts_ms: epochMs,
    ip: text,
    method: text,
    host: text,
    path: described(text, 'as the client sent it: attacker-controlled text'),
    status: { type: 'integer', minimum: 0, maximum: 999 },
    user_agent: text,
    user_id: nullable(text),
    login_user: nullable(described(text, 'the username of a login attempt')),
    blocked: flag,
    rate_limited: flag,
    country: text,
    asn: count,
    org: text,
  }),
  RequestLogPage: object({
    rows: list(ref('RequestLogRow'), { maxItems: MAX_LOG_PAGE, description: 'newest first' }),
    next: { type: ['string', 'null'], pattern: '^\\d{1,15},', description: 'the `before` of the next (older) page; null on the last' },
  }),
  RequestPage: object({ total: described(count, 'requests matching the filter (all of them, not only those listed)'), rows: list(ref('RequestRow'), { description: 'newest first, at most `limit`' }) }),
  BlockDecision: object(BLOCK_DECISION),
  AllowEntry: object(ALLOW_ENTRY),
  ListedBlock: object({ ...BLOCK_DECISION, ...LISTED }),
  ListedAllow: object({ ...ALLOW_ENTRY, ...LISTED }),
  BlockList: object({ total: count, rows: list(ref('ListedBlock'), { description: 'newest first' }) }),
  AllowList: object({ total: count, rows: list(ref('ListedAllow'), { description: 'newest first' }) }),
  BlockChange: object(
    {
      target: { ...IP_OR_CIDR, description: 'the IP address or CIDR to block' },
      reason: { type: ['string', 'null'], maxLength: 500 },
      expires: { type: ['string', 'null'], examples: ['+12h', '+7d', '2026-12-01T00:00:00Z', 'never'], description: '+90s, +30m, +12h, +7d, +2w, an ISO-8601 time with a zone, or never (the default)' },
      severity: { ...SEVERITY, default: 'medium' },
      source: { type: 'string', pattern: '^[a-z][a-z0-9_.:-]{0,63}$', default: 'manual', description: 'manual or import; a rule\'s id only with the scorer\'s token' },
      actor: { type: ['string', 'null'], maxLength: 200, description: 'who the caller says it is: kept as a note, never as the actor' },
      force: { type: ['boolean', 'null'], description: 'true lets a block sweep a wide range, or one holding loopback or private addresses' },
    },
    ['reason', 'expires', 'severity', 'source', 'actor', 'force'],
  ),
  AllowChange: object(
    {
      target: { ...IP_OR_CIDR, description: 'the IP address or CIDR to allow' },
      reason: { type: ['string', 'null'], maxLength: 500 },
      expires: { type: ['string', 'null'], examples: ['+12h', '+7d', 'never'] },
      actor: { type: ['string', 'null'], maxLength: 200 },
      force: { type: ['boolean', 'null'], description: 'true lets an entry wider than /8 (IPv4) or /16 (IPv6) in' },
    },
    ['reason', 'expires', 'actor', 'force'],
  ),
  BlockImport: object(
    {
      targets: list({ type: 'string' }, { minItems: 1, maxItems: MAX_IMPORT, description: 'IP addresses and CIDRs; one bad target refuses the whole list' }),
      reason: { type: ['string', 'null'], maxLength: 500 },
      expires: { type: ['string', 'null'] },
      severity: { ...SEVERITY, default: 'medium' },
      actor: { type: ['string', 'null'], maxLength: 200 },
      force: { type: ['boolean', 'null'] },
    },
    ['reason', 'expires', 'severity', 'actor', 'force'],
  ),
  EntryFieldChange: object({
    field: { type: 'string', enum: ['expiresAt', 'reason', 'severity', 'source'] },
    was: { type: ['string', 'integer', 'null'] },
    becomes: { type: ['string', 'integer', 'null'] },
  }),
  BlockChangeResult: object({
    record: ref('BlockDecision'),
    replaced: described(flag, 'the target was listed already and its entry was replaced'),
    previous: nullable(ref('BlockDecision')),
    changes: list(ref('EntryFieldChange')),
    audited: described(flag, 'the audit row was written (a ClickHouse outage does not stop a block)'),
  }),
  AllowChangeResult: object({ record: ref('AllowEntry'), replaced: flag, previous: nullable(ref('AllowEntry')), changes: list(ref('EntryFieldChange')), audited: flag }),
  ImportResult: object({ imported: count, replaced: count, audited: flag }),
  BlockEvent: object(
    {
      ts: epochMs,
      action: { type: 'string', enum: ['block', 'unblock', 'allow', 'unallow'] },
      target: text,
      reason: text,
      source: text,
      severity: described(text, 'a severity, or empty for the allowlist'),
      expires_at: nullable(epochMs),
      actor: described(text, 'the authenticated caller'),
      note: described(text, 'what the caller said of itself, a forced sweep, or the detection; empty when nothing'),
    },
    ['note'],
  ),
  BlockEventList: object({ rows: list(ref('BlockEvent'), { description: 'newest first' }) }),
  Detection: object({
    id: text,
    ts: epochMs,
    ip: text,
    client: described(text, 'what the scorer scored: the IP, or an IPv6 /64; empty for old rows'),
    rule: text,
    severity: text,
    mode: text,
    action: text,
    score: num,
    count: described(num, 'the figure that crossed the threshold'),
    threshold: num,
    windowStart: epochMs,
    windowEnd: epochMs,
    evidence: textMap,
    blockExpiresAt: nullable(epochMs),
    offence: count,
  }),
  CoveringEntry: object({
    target: text,
    source: nullable(text),
    by: { type: 'string', enum: ['rule', 'person'] },
    reason: text,
    severity: nullable(text),
    since: epochMs,
    until: nullable(epochMs),
    createdBy: text,
    evidence: nullable(ref('Detection')),
  }),
  ClientAnalysis: object({
    ip: text,
    scope: object({ kind: { type: 'string', enum: ['address', 'network/64'] }, client: text }),
    range: object({ since: epochMs, until: epochMs, hours: { type: 'integer', minimum: 1, maximum: MAX_ANALYSIS_HOURS } }),
    traffic: object({
      requests: count,
      requestsFromAddress: count,
      addresses: count,
      errors: count,
      errorRate: nullable({ type: 'number', minimum: 0, maximum: 1 }),
      statusClasses: object({ '1xx': count, '2xx': count, '3xx': count, '4xx': count, '5xx': count }),
      blocked: count,
      rateLimited: count,
      firstSeen: nullable(epochMs),
      lastSeen: nullable(epochMs),
    }),
    hourly: list(object({ hour: epochMs, requests: count, errors: count })),
    geo: nullable(object({ country: text, region: text, city: text, asn: count, org: text, seenAt: epochMs })),
    topPaths: list(object({ path: text, requests: count, errors: count })),
    userAgents: list(object({ userAgent: text, requests: count })),
    sensitivePaths: object({
      rules: list(text),
      pathsExamined: count,
      truncated: flag,
      byRule: list(object({ rule: text, requests: count, paths: count })),
      requests: count,
      paths: list(object({ path: text, requests: count, rules: list(text) })),
    }),
    logins: object({ failed: count, succeeded: count, distinctUsernames: count, usernames: list(object({ username: text, failed: count })) }),
    rateLimits: object({
      refusals: count,
      events: count,
      byRule: list(object({ rule: text, refusals: count, events: count, limit: count, windowMs: count, first: epochMs, last: epochMs })),
    }),
    detections: object({ total: count, rows: list(ref('Detection'), { maxItems: 100 }) }),
    blockHistory: object({ rows: list(ref('BlockEvent'), { maxItems: 100 }), truncated: flag }),
    generatedAt: epochMs,
    blockedNow: nullable(
      object({
        blocked: described(flag, 'a block in force covers the address and no allowlist entry does'),
        blocks: list(ref('CoveringEntry')),
        allowlisted: list(ref('CoveringEntry')),
      }),
    ),
  }),
  Figure: object({ value: num, previous: num, change: ratio }),
  RateFigure: object({ value: nullable(num), previous: nullable(num), change: ratio }),
  LocalDay: object({ date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, since: epochMs, until: epochMs, hours: num }),
  DailyReport: object({
    date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
    timeZone: text,
    range: ref('LocalDay'),
    previousRange: ref('LocalDay'),
    generatedAt: epochMs,
    top: { type: 'integer', minimum: 1, maximum: MAX_REPORT_TOP },
    totals: object({
      requests: FIGURE,
      uniqueClients: FIGURE,
      serverErrors: FIGURE,
      serverErrorRate: ref('RateFigure'),
      clientErrors: FIGURE,
      clientErrorRate: ref('RateFigure'),
      blocked: FIGURE,
      rateLimited: FIGURE,
      detections: FIGURE,
      blocksMade: FIGURE,
      blocksLifted: FIGURE,
      rateLimitRefusals: FIGURE,
    }),
    hourly: list(object({ start: epochMs, label: { type: 'string', pattern: '^\\d{2}:\\d{2}$' }, requests: count, errors: count })),
    topClients: list(object({ ip: text, requests: count, previous: count, change: ratio, errors: count, country: text, asn: count, org: text })),
    topPaths: list(object({ path: text, requests: count, previous: count, change: ratio, errors: count, clients: count })),
    topCountries: list(object({ country: text, requests: count, previous: count, change: ratio, clients: count })),
    topNetworks: object({
      asns: list(object({ asn: count, org: text, requests: count, previous: count, change: ratio, clients: count })),
      prefixes: list(object({ network: text, requests: count, previous: count, change: ratio, clients: count, country: text, asn: count, org: text })),
    }),
    detections: object({
      total: FIGURE,
      byRule: list(object({ rule: text, severity: text, detections: count, previous: count, change: ratio, blocked: count, dryRun: count, clients: count })),
      bySeverity: list(object({ severity: text, detections: count, previous: count, change: ratio })),
    }),
    blocks: object({
      made: FIGURE,
      madeByKind: object({ rule: FIGURE, manual: FIGURE, import: FIGURE }),
      bySource: list(object({ source: text, kind: { type: 'string', enum: ['rule', 'manual', 'import'] }, blocks: count, previous: count, change: ratio })),
      lifted: FIGURE,
      unblocked: FIGURE,
      expired: FIGURE,
    }),
    rateLimits: object({ refusals: FIGURE, byRule: list(object({ rule: text, refusals: count, previous: count, change: ratio, events: count, clients: count })) }),
  }),
  Overview: object({
    range: object({ sinceMs: epochMs, untilMs: epochMs }),
    previousRange: described(object({ sinceMs: epochMs, untilMs: epochMs }), 'the range of the same length just before'),
    bucketMs: { type: 'integer', minimum: 60_000 },
    totals: object({
      requests: FIGURE,
      uniqueClients: described(FIGURE, 'distinct addresses (estimated: uniq)'),
      serverErrors: FIGURE,
      serverErrorRate: ref('RateFigure'),
      clientErrors: FIGURE,
      clientErrorRate: ref('RateFigure'),
      blocked: FIGURE,
      rateLimited: FIGURE,
      detections: FIGURE,
      blocksMade: FIGURE,
    }),
    series: list(object({ start: epochMs, requests: count, serverErrors: count, clientErrors: count, blocked: count, rateLimited: count }), { description: 'every bucket of the range, empty ones as zeros' }),
    topClients: list(object({ ip: text, ...SKETCHED, country: text, asn: count, org: text })),
    topPaths: list(object({ path: text, ...SKETCHED })),
    countries: list(object({ country: described(text, 'ISO code, or empty when unknown'), requests: count, previous: count, change: ratio }), { description: 'every country of either range (the map)' }),
    topAsns: list(object({ asn: count, org: text, ...SKETCHED })),
    topUserAgents: list(object({ userAgent: text, ...SKETCHED })),
    latestDetections: list(ref('Detection')),
    latestBlocks: list(object({ ts: epochMs, target: text, reason: text, source: text, severity: text, expiresAt: nullable(epochMs), actor: text })),
  }),
  DetectionPage: object({
    rows: list(ref('Detection'), { maxItems: MAX_DETECTIONS_PAGE, description: 'newest first' }),
    next: { type: ['string', 'null'], pattern: '^\\d{1,15},', description: 'the `before` of the next (older) page; null on the last' },
  }),
  RateLimitEvents: object({
    rows: list(
      object({
        ts: epochMs,
        ip: text,
        rule: text,
        limitKey: described(text, 'what the limit counted by (ip:..., user:...)'),
        limit: count,
        windowMs: count,
        count: described(count, 'requests refused by this event (one event folds a window\'s refusals)'),
        path: text,
        userId: nullable(text),
        app: text,
      }),
      { maxItems: MAX_RATE_LIMIT_ROWS, description: 'newest first' },
    ),
    byRule: list(object({ rule: text, refusals: count, events: count, clients: described(count, 'distinct addresses (estimated: uniq)') }), { description: 'over the whole range and filter, most refusals first' }),
  }),
  Rule: object(RULE),
  RuleView: object({ ...RULE, origin: { type: 'string', enum: ['default', 'changed', 'custom'] }, action: described(text, 'what the rule does, in words') }),
  RuleList: object({ rules: list(ref('RuleView')) }),
  RuleDetail: object({ rule: ref('RuleView'), kindDoc: text, paramDocs: textMap }),
  RuleChange: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    description: 'the fields to change (a new rule needs kind, windowMs and threshold); the rest stays as it is',
    properties: {
      kind: { type: 'string', enum: Object.keys(RULE_KINDS) },
      windowMs: { type: 'integer', minimum: 1000, maximum: 7 * 86_400_000 },
      threshold: { type: 'number', minimum: 0 },
      severity: SEVERITY,
      mode: { type: 'string', enum: [...RULE_MODES] },
      autoBlock: flag,
      blockForMs: nullable({ type: 'integer', minimum: 1000 }),
      escalation: list({ type: 'integer', minimum: 1000 }, { maxItems: 10 }),
      escalationMemoryMs: count,
      quietMs: count,
      description: { type: 'string', maxLength: 500 },
      enabled: flag,
      params: { type: 'object', additionalProperties: { type: ['string', 'null'] }, description: 'parameter names and text values; null removes one' },
    },
  },
  RuleFieldChange: object({ field: described(text, 'a field, or params.NAME'), was: { description: 'the value before (null: not set)' }, becomes: { description: 'the value after (null: not set)' } }),
  RuleChangeResult: object({
    rule: ref('RuleView'),
    previous: nullable(ref('Rule')),
    created: flag,
    changes: list(ref('RuleFieldChange')),
    applied: described(flag, 'the api\'s own rule book shows the change (false: written, not seen back in time)'),
  }),
  RuleResetResult: object({
    reset: { type: 'string', enum: ['restored', 'deleted', 'unchanged'] },
    rule: nullable(ref('RuleView')),
    previous: ref('Rule'),
    changes: list(ref('RuleFieldChange')),
    applied: flag,
  }),
  OpenApi: {
    type: 'object',
    required: ['openapi', 'info', 'paths', 'components'],
    properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' }, components: { type: 'object' } },
    description: 'this document',
  },
};

const errorComponents: JsonObject = {};
for (const [status, { name, description }] of Object.entries(ERROR_RESPONSES)) {
  const response: JsonObject = {
    description,
    content: { 'application/json': { schema: { type: 'object', allOf: [ref('Error')], properties: { code: { enum: codesWithStatus(Number(status)) } } } } },
  };
  if (status === '401') response.headers = { 'WWW-Authenticate': { schema: { const: 'Bearer' } } };
  if (status === '429') response.headers = { 'Retry-After': { description: 'seconds to wait', schema: { type: 'string', pattern: '^\\d+$' } } };
  errorComponents[name] = response;
}

// ---- paths ---------------------------------------------------------------------------

const LIST_ERRORS = ['503'];
const CHANGE_ERRORS = ['413', '415', '503'];
const RULE_ID_PARAM = pathParam('id', { type: 'string', pattern: RULE_ID_PATTERN, maxLength: 63 }, 'the rule\'s id (`GET /rules` lists them)');

function listPaths(noun: 'blocks' | 'allowlist'): { [method in HttpMethod]?: Operation } {
  const blocks = noun === 'blocks';
  const [Listed, Change, Result] = blocks ? ['BlockList', 'BlockChange', 'BlockChangeResult'] : ['AllowList', 'AllowChange', 'AllowChangeResult'];
  const what = blocks ? 'block list' : 'allowlist';
  return {
    get: {
      operationId: blocks ? 'listBlocks' : 'listAllowlist',
      summary: `The ${what}: entries in force (or all), newest first`,
      tags: ['lists'],
      parameters: [
        query('expired', { type: 'string', enum: ['true', 'false'], default: 'false' }, 'true: expired entries too'),
        query('covers', ONE_IP, 'only the entries that apply to this address (the address itself and every range holding it)'),
        query('limit', wholeNumber(1, 1_000_000, 1000), 'at most this many rows (total counts all)'),
      ],
      responses: responses({ 200: { description: `the ${what}`, schema: ref(Listed!) } }, LIST_ERRORS),
    },
    post: {
      operationId: blocks ? 'block' : 'allow',
      summary: blocks ? 'Block an IP address or CIDR (everywhere within a second)' : 'Allow an IP address or CIDR (never blocked, never rate-limited)',
      tags: ['lists'],
      requestBody: jsonBody(ref(Change!), `the ${blocks ? 'block' : 'entry'}: fields not listed here are refused, naming them`),
      responses: responses(
        { 201: { description: 'listed', schema: ref(Result!) }, 200: { description: 'listed already: the entry was replaced (changes says what changed)', schema: ref(Result!) } },
        CHANGE_ERRORS,
      ),
    },
    delete: {
      operationId: blocks ? 'unblock' : 'unallow',
      summary: blocks ? 'Lift a block' : 'Remove an allowlist entry',
      tags: ['lists'],
      parameters: [
        query('target', IP_OR_CIDR, 'the target as listed (`GET` shows it)', true),
        query('reason', { type: 'string', maxLength: 500 }, 'why, for the audit trail'),
        query('actor', { type: 'string', maxLength: 200 }, 'who the caller says it is (a note beside the authenticated actor)'),
      ],
      responses: responses({ 200: { description: 'removed: the entry as it was', schema: ref(Result!) } }, ['404', '503']),
    },
  };
}

const paths: OpenApiDocument['paths'] = {
  '/status': {
    get: { operationId: 'status', summary: 'The api answers, and how it runs', tags: ['service'], responses: responses({ 200: { description: 'up', schema: ref('Status') } }) },
  },
  '/requests': {
    get: {
      operationId: 'listRequests',
      summary: 'The request log, newest first, filtered',
      tags: ['traffic'],
      parameters: [
        query('ip', IP_OR_CIDR, 'an IP address or a CIDR (every address of the range)'),
        query('path', { type: 'string', minLength: 1, maxLength: 2048 }, 'case-insensitive part of the path, matched anywhere (a value, never SQL)'),
        query('status', STATUS_FILTER, 'a status, a class, a range or a floor'),
        query('country', { type: 'string', pattern: '^[A-Za-z]{2}$' }, 'two-letter ISO code'),
        query('since', TIME_BOUND, 'a duration before now, or an ISO-8601 time'),
        query('until', TIME_BOUND, 'a duration before now, or an ISO-8601 time (exclusive)'),
        query('limit', wholeNumber(1, MAX_LIMIT, 50), 'at most this many rows'),
      ],
      responses: responses({ 200: { description: 'the matching requests', schema: ref('RequestPage') } }),
    },
  },
  '/blocks': listPaths('blocks'),
  '/blocks/import': {
    post: {
      operationId: 'importBlocks',
      summary: `Block many targets at once (source import; at most ${MAX_IMPORT})`,
      tags: ['lists'],
      requestBody: jsonBody(ref('BlockImport'), 'the targets and what applies to all of them'),
      responses: responses({ 201: { description: 'blocked', schema: ref('ImportResult') } }, CHANGE_ERRORS),
    },
  },
  '/allowlist': listPaths('allowlist'),
  '/block-events': {
    get: {
      operationId: 'listBlockEvents',
      summary: 'The audit trail of blocks and allowlist changes, newest first',
      tags: ['lists'],
      parameters: [query('target', IP_OR_CIDR, 'only the changes of this target, exactly as listed'), query('limit', wholeNumber(1, 10_000, 100), 'at most this many rows')],
      responses: responses({ 200: { description: 'the changes', schema: ref('BlockEventList') } }),
    },
  },
  '/clients/{ip}/analysis': {
    get: {
      operationId: 'analyseClient',
      summary: 'Everything known about one client: traffic, paths, logins, limits, detections, blocks',
      tags: ['traffic'],
      parameters: [
        pathParam('ip', ONE_IP, 'one IP address (an IPv6 address is analysed with its /64)'),
        query('hours', { type: 'integer', minimum: 1, maximum: MAX_ANALYSIS_HOURS, default: DEFAULT_ANALYSIS_HOURS }, 'the last N whole hours (UTC), the current one included'),
      ],
      responses: responses({ 200: { description: 'the analysis', schema: ref('ClientAnalysis') } }),
    },
  },
  '/reports/daily': {
    get: {
      operationId: 'dailyReport',
      summary: 'One local day of traffic and defence against the day before',
      tags: ['traffic'],
      parameters: [
        query('date', { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, 'the local day (default: yesterday in the zone)'),
        query('tz', { type: 'string', default: 'UTC', examples: ['UTC', 'Europe/Paris'] }, 'an IANA time zone'),
        query('top', { type: 'integer', minimum: 1, maximum: MAX_REPORT_TOP, default: DEFAULT_REPORT_TOP }, 'rows per top list'),
      ],
      responses: responses({ 200: { description: 'the report', schema: ref('DailyReport') } }),
    },
  },
  '/overview': {
    get: {
      operationId: 'overview',
      summary: 'A range of time against the one before it: figures, series, top lists, countries, latest detections and blocks',
      tags: ['traffic'],
      parameters: [
        query('since', TIME_BOUND, `the start (rounded down to the minute; default: a day before until; at most ${MAX_OVERVIEW_DAYS} days before it)`),
        query('until', TIME_BOUND, 'the end (rounded up to the minute; default: now)'),
        query('bucket', { type: 'string', pattern: BUCKET.source, examples: ['1m', '15m', '1h', '1d'] }, 'the series\' bucket (at most 1000 in the range; default: the shortest of 1m, 5m, 15m, 1h, 6h, 1d making at most 200)'),
        query('top', wholeNumber(1, MAX_REPORT_TOP, 10), 'rows per top list'),
        query('latest', wholeNumber(1, MAX_REPORT_TOP, 10), 'latest detections and blocks listed'),
      ],
      responses: responses({ 200: { description: 'the overview', schema: ref('Overview') } }),
    },
  },
  '/request-log': {
    get: {
      operationId: 'requestLog',
      summary: 'The request log as the dashboard filters it (each field also excluded with not_NAME), paged with `before`',
      tags: ['traffic'],
      parameters: [
        ...LOG_FIELDS.map(([name, schema, description]) => query(name, schema, description)),
        ...LOG_FIELDS.map(([name, schema, description]) => query(`not_${name}`, schema, `leave out requests whose ${description}`)),
        query('since', TIME_BOUND, 'the start (default: a day before until)'),
        query('until', TIME_BOUND, 'the end, exclusive (default: now)'),
        query('blocked', BOOLEAN_TEXT, 'only requests refused (true) or not refused (false) by the block list'),
        query('limited', BOOLEAN_TEXT, 'only requests refused (true) or not refused (false) by a rate limit'),
        query('before', CURSOR, 'the cursor a page\'s `next` gave: the page after it'),
        query('limit', wholeNumber(1, MAX_LOG_PAGE, 100), 'rows per page'),
      ],
      responses: responses({ 200: { description: 'a page of the log', schema: ref('RequestLogPage') } }),
    },
  },
  '/detections': {
    get: {
      operationId: 'listDetections',
      summary: 'The scorer\'s detections, newest first, filtered; paged with `before`',
      tags: ['traffic'],
      parameters: [
        query('rule', { type: 'string', pattern: DETECTION_RULE.source }, 'a rule id'),
        query('severity', SEVERITY, 'a severity'),
        query('mode', { type: 'string', enum: [...RULE_MODES] }, 'live, or dry_run (recorded, never enforced)'),
        query('client', IP_OR_CIDR, 'an IP or CIDR: detections of the clients inside it, or keyed by it (an IPv6 /64)'),
        query('since', TIME_BOUND, 'the start (default: a day before until)'),
        query('until', TIME_BOUND, 'the end, exclusive (default: now)'),
        query('before', CURSOR, 'the cursor a page\'s `next` gave: the page after it'),
        query('limit', wholeNumber(1, MAX_DETECTIONS_PAGE, 100), 'rows per page'),
      ],
      responses: responses({ 200: { description: 'a page of detections', schema: ref('DetectionPage') } }),
    },
  },
  '/rate-limits': {
    get: {
      operationId: 'listRateLimitEvents',
      summary: 'Requests refused by the rate limits, newest first, with the refusals per rule',
      tags: ['traffic'],
      parameters: [
        query('ip', IP_OR_CIDR, 'an IP address or a CIDR'),
        query('rule', { type: 'string', pattern: LIMIT_RULE.source }, 'a rate-limit rule, such as login or anonymous'),
        query('since', TIME_BOUND, 'the start (default: a day before until)'),
        query('until', TIME_BOUND, 'the end, exclusive (default: now)'),
        query('limit', wholeNumber(1, MAX_RATE_LIMIT_ROWS, 100), 'events listed (byRule counts them all)'),
      ],
      responses: responses({ 200: { description: 'the refusals', schema: ref('RateLimitEvents') } }),
    },
  },
  '/rules': {
    get: { operationId: 'listRules', summary: 'The detection rules in force', tags: ['rules'], responses: responses({ 200: { description: 'the rules', schema: ref('RuleList') } }, LIST_ERRORS) },
  },
  '/rules/{id}': {
    get: {
      operationId: 'showRule',
      summary: 'One rule, with what its kind counts and what each parameter means',
      tags: ['rules'],
      parameters: [RULE_ID_PARAM],
      responses: responses({ 200: { description: 'the rule', schema: ref('RuleDetail') } }, ['404', '503']),
    },
    put: {
      operationId: 'setRule',
      summary: 'Change a rule, or create one (applied live by every scorer)',
      tags: ['rules'],
      parameters: [RULE_ID_PARAM],
      requestBody: jsonBody(ref('RuleChange'), 'the fields to change'),
      responses: responses({ 200: { description: 'changed', schema: ref('RuleChangeResult') }, 201: { description: 'created', schema: ref('RuleChangeResult') } }, ['404', ...CHANGE_ERRORS]),
    },
    delete: {
      operationId: 'resetRule',
      summary: 'Restore a shipped rule as shipped, or delete a custom one',
      tags: ['rules'],
      parameters: [RULE_ID_PARAM],
      responses: responses({ 200: { description: 'reset', schema: ref('RuleResetResult') } }, ['404', '503']),
    },
  },
};

const SHORTHANDS: { [name: string]: string } = { enable: 'Enable a rule', disable: 'Disable a rule', 'dry-run': 'Run a rule in dry-run (detections recorded, never enforced)', live: 'Run a rule live (enforced)' };
for (const [name, summary] of Object.entries(SHORTHANDS)) {
  paths[`/rules/{id}/${name}`] = {
    post: {
      operationId: `${name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())}Rule`,
      summary,
      tags: ['rules'],
      parameters: [RULE_ID_PARAM],
      requestBody: jsonBody({ type: 'object', maxProperties: 0, additionalProperties: false }, 'an empty JSON object, {}'),
      responses: responses({ 200: { description: 'changed (or already so: changes is empty)', schema: ref('RuleChangeResult') } }, ['404', ...CHANGE_ERRORS]),
    },
  };
}

// Last, so that listings name the resources first.
paths['/openapi.json'] = {
  get: {
    operationId: 'openApi',
    summary: 'This document (no token needed; without a token configured, loopback Host only)',
    tags: ['service'],
    security: [],
    responses: {
      200: { description: 'the OpenAPI 3.1 document', content: { 'application/json': { schema: ref('OpenApi') } } },
      403: errorResponse('403'),
    },
  },
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The document, frozen: served as it is, and read by the tests and the unknown-endpoint message.
 *
 * @example
 * Object.keys(OPENAPI.paths); // ['/status', '/requests', '/blocks', ...]
 * res.json(OPENAPI);
 */
export const OPENAPI: OpenApiDocument = deepFreeze({
  openapi: '3.1.0',
  info: {
    title: 'ipwatch API',
    version: '1',
    description:
      'The request log, blocks, the allowlist, detection rules, client analysis and reports of ipwatch. Authenticate with the api\'s token (IPWATCH_API_TOKEN) as "Authorization: Bearer <token>"; an api started without a token answers only requests addressed to 127.0.0.1, localhost or [::1], without one. Every query parameter is typed and checked: an unknown or repeated one is refused (400), never ignored. The same paths without /v1 (/api/...) still answer, deprecated (Deprecation and Link headers name the successor).',
    license: { name: 'proprietary' },
  },
  servers: [{ url: API_V1, description: 'relative to the api (e.g. http://127.0.0.1:7070)' }],
  security: [{ bearerAuth: [] }],
  tags: [
    { name: 'traffic', description: 'the request log and what it says' },
    { name: 'lists', description: 'the block list and the allowlist, with their audit trail' },
    { name: 'rules', description: 'the detection rules' },
    { name: 'service', description: 'the api itself' },
  ],
  paths,
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'IPWATCH_API_TOKEN (or the scorer\'s IPWATCH_SCORER_TOKEN); not needed from loopback when the api has no token' },
    },
    schemas,
    responses: errorComponents,
  },
});

/**
 * The document's operations as `METHOD /api/v1/path`, in document order.
 *
 * @example
 * v1Operations()[0]; // 'GET /api/v1/status'
 */
export function v1Operations(): string[] {
  return Object.entries(OPENAPI.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${API_V1}${path}`));
}
