/**
 * The OpenAPI 3.1 document of API v1, as data: every path and method the api serves under
 * /api/v1, its parameters (types, patterns, enums, limits), request bodies, and responses with
 * their JSON Schemas, errors included ({error, code}, the codes from the errors registry).
 * Served at GET /api/v1/openapi.json; test/openapi.chdb.test.ts checks that it names every
 * route Express serves, and test/openapi.answers.chdb.test.ts that real answers match its
 * schemas, so it cannot drift silently.
 *
 * Limits and enums come from the code that enforces them (MAX_LIMIT, RULE_KINDS, ERRORS...)
 * wherever that code exports them.
 */
import { RULE_MODES } from '@ipwatch/core/rules';
import { DEFAULT_REPORT_TOP, MAX_ANALYSIS_HOURS, MAX_LIMIT, MAX_LOG_PAGE, MAX_REPORT_TOP } from '@ipwatch/store';
import { MAX_IMPORT } from '../listChanges.ts';
import { DEFAULT_ANALYSIS_HOURS } from '../analysis.ts';
import { BUCKET, DETECTION_RULE, LIMIT_RULE, MAX_DETECTIONS_PAGE, MAX_OVERVIEW_DAYS, MAX_RATE_LIMIT_ROWS } from './trafficViews.ts';
import { API_V1, type HttpMethod, type Operation, type OpenApiDocument, ref, query, pathParam, wholeNumber, IP_OR_CIDR, ONE_IP, TIME_BOUND, RULE_ID_PATTERN, STATUS_FILTER, CURSOR, BOOLEAN_TEXT, LOG_FIELDS, errorResponse, responses, jsonBody } from './schemaKit.ts';
import { SEVERITY, schemas, errorComponents } from './components.ts';
import { privacyPaths, privacySchemas } from './privacyDoc.ts';
import { sqlPaths, sqlSchemas } from './sqlDoc.ts';

export { API_V1, codesWithStatus, type HttpMethod, type JsonObject, type JsonValue, type OpenApiDocument, type Operation } from './schemaKit.ts';

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

Object.assign(paths, privacyPaths);
Object.assign(paths, sqlPaths);

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
      'The request log, blocks, the allowlist, detection rules, client analysis, reports, a person\'s export and erasure, and analysts\' read-only SQL, of ipwatch. Authenticate with the api\'s token (IPWATCH_API_TOKEN) as "Authorization: Bearer <token>"; an api started without a token answers only requests addressed to 127.0.0.1, localhost or [::1], without one. Every query parameter is typed and checked: an unknown or repeated one is refused (400), never ignored. The same paths without /v1 (/api/...) still answer, deprecated (Deprecation and Link headers name the successor).',
    license: { name: 'proprietary' },
  },
  servers: [{ url: API_V1, description: 'relative to the api (e.g. http://127.0.0.1:7070)' }],
  security: [{ bearerAuth: [] }],
  tags: [
    { name: 'traffic', description: 'the request log and what it says' },
    { name: 'lists', description: 'the block list and the allowlist, with their audit trail' },
    { name: 'rules', description: 'the detection rules' },
    { name: 'privacy', description: 'a data subject\'s export and erasure, and the audit log of both' },
    { name: 'sql', description: 'analysts\' own read-only SQL against the store (README, "SQL for analysts"; docs/TABLES.md)' },
    { name: 'service', description: 'the api itself' },
  ],
  paths,
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'IPWATCH_API_TOKEN (or the scorer\'s IPWATCH_SCORER_TOKEN); not needed from loopback when the api has no token' },
    },
    schemas: { ...schemas, ...privacySchemas, ...sqlSchemas },
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
