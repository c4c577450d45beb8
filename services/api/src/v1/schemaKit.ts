/**
 * The building blocks of the OpenAPI document (openapi.ts): its types, schema shorthands
 * (text, count, nullable, object ...), the parameter schemas the routes share (an IP or CIDR, a
 * time bound, a status filter ...), and the error responses with the registry's codes.
 */
import { ERRORS, type ErrorCode } from '@ipwatch/core/errors';
import { RULE_ID } from '@ipwatch/core/rules';

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

export const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
export const text: JsonObject = { type: 'string' };
export const flag: JsonObject = { type: 'boolean' };
export const num: JsonObject = { type: 'number' };
export const count: JsonObject = { type: 'integer', minimum: 0 };
export const epochMs: JsonObject = { type: 'integer', description: 'milliseconds since the epoch (UTC)' };
export const ratio: JsonObject = { type: ['number', 'null'], description: '(value - previous) / previous: 0.04 is +4%; null when previous is 0' };
export const nullable = (schema: JsonObject): JsonObject => ('$ref' in schema ? { anyOf: [schema, { type: 'null' }] } : { ...schema, type: [schema.type as string, 'null'] });
export const list = (items: JsonObject, extra: JsonObject = {}): JsonObject => ({ type: 'array', items, ...extra });
export const described = (schema: JsonObject, description: string): JsonObject => ('$ref' in schema ? { allOf: [schema], description } : { ...schema, description });
/** A closed object: every property listed; `optional` names the ones that may be absent. */
export function object(properties: { [name: string]: JsonObject }, optional: readonly string[] = []): JsonObject {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties).filter((k) => !optional.includes(k)), properties };
}
export const textMap: JsonObject = { type: 'object', additionalProperties: text };

// ---- parameters ----------------------------------------------------------------------

export function query(name: string, schema: JsonObject, description: string, required = false): JsonObject {
  return { name, in: 'query', required, description, schema };
}
export function pathParam(name: string, schema: JsonObject, description: string): JsonObject {
  return { name, in: 'path', required: true, description, schema };
}
export const wholeNumber = (min: number, max: number, fallback: number): JsonObject => ({ type: 'integer', minimum: min, maximum: max, default: fallback });
export const IP_OR_CIDR: JsonObject = { type: 'string', minLength: 1, maxLength: 64, examples: ['203.0.113.7', '203.0.113.0/24', '2001:db8::/48'] };
export const ONE_IP: JsonObject = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f:.]+$', examples: ['203.0.113.7', '2001:db8::1'] };
export const TIME_BOUND: JsonObject = { type: 'string', pattern: '^\\s*(\\d{1,6}[smhdw]|\\d{4}-\\d{2}-\\d{2}.*)\\s*$', examples: ['15m', '2h', '7d', '2026-11-24T10:00:00Z'] };
export const RULE_ID_PATTERN = RULE_ID.source;
export const STATUS_FILTER: JsonObject = { type: 'string', pattern: '^\\s*([1-5][xX][xX]|\\d{3}|\\d{3}-\\d{3}|>=\\d{3})\\s*$', examples: ['404', '4xx', '400-499', '>=400'] };
export const COUNTRY: JsonObject = { type: 'string', pattern: '^\\s*[A-Za-z]{2}\\s*$' };
/** A keyset cursor, <unix ms>,<id>, as a page's `next` gives it. */
export const CURSOR: JsonObject = { type: 'string', pattern: '^\\d{1,15},[\\x21-\\x7e]{0,128}$' };
export const BOOLEAN_TEXT: JsonObject = { type: 'string', enum: ['true', 'false', '1', '0', 'yes', 'no'] };
/** The request log's fields (LOG_FILTER_FIELDS), each a filter and, as not_NAME, an exclusion. */
export const LOG_FIELDS: Array<[string, JsonObject, string]> = [
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

export const ERROR_RESPONSES: { [status: string]: { name: string; description: string } } = {
  400: { name: 'BadRequest', description: 'the request is malformed: a bad filter, parameter, address, change or body (the message names it)' },
  401: { name: 'Unauthorized', description: 'missing or wrong bearer token (WWW-Authenticate: Bearer)' },
  403: { name: 'Forbidden', description: 'refused: a page of another origin, a non-loopback Host when the api has no token, a block in a rule\'s name without the scorer\'s token, or an SQL query that would write, change a setting or reach files or the network' },
  404: { name: 'NotFound', description: 'nothing of that name: the rule, the entry to remove, or the endpoint' },
  413: { name: 'PayloadTooLarge', description: 'the body is larger than the api accepts (16 kB; 256 kB for a rule or an SQL query; 8 MB for an import)' },
  415: { name: 'UnsupportedMediaType', description: 'a change sent as something other than application/json' },
  422: { name: 'UnprocessableContent', description: 'an SQL query stopped by one of its limits (rows read, result rows or bytes, time, memory): the message names the IPWATCH_SQL_MAX_* variable' },
  429: { name: 'TooManyRequests', description: 'too many wrong tokens from this address: wait Retry-After seconds' },
  500: { name: 'InternalError', description: 'an unexpected failure; the service log has the cause (never the answer)' },
  503: { name: 'ServiceUnavailable', description: 'this api runs without the event log, so it cannot list or change blocks, the allowlist or the rules; or without the privacy service, so it cannot export or erase; or without the SQL service, so it cannot run queries' },
};

export const errorResponse = (status: string): JsonObject => ({ $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` });

/** Every operation's refusals: the request (400), the token (401, 429), the origin/Host (403), failures (500). */
export const COMMON_ERRORS = ['400', '401', '403', '429', '500'];

export function responses(ok: { [status: string]: { description: string; schema: JsonObject } }, errors: readonly string[] = []): JsonObject {
  const out: JsonObject = {};
  for (const [status, { description, schema }] of Object.entries(ok)) out[status] = { description, content: { 'application/json': { schema } } };
  for (const status of [...COMMON_ERRORS, ...errors].sort()) out[status] = errorResponse(status);
  return out;
}

export const jsonBody = (schema: JsonObject, description: string): JsonObject => ({ required: true, description, content: { 'application/json': { schema } } });
