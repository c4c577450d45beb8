/**
 * The privacy part of the OpenAPI document (openapi.ts): the paths under /privacy (export,
 * erase, the audit log, erasures stopped half-way) and their schemas, closed like the rest.
 * The limits and enums come from the routes (privacy/routes.ts) and the subject guard.
 */
import { MAX_USER_LENGTH } from '@ipwatch/core/dataSubject';
import { AUDIT_ACTIONS, EXPORT_FORMATS, MAX_AUDIT_LIMIT } from '../privacy/routes.ts';
import { type HttpMethod, type JsonObject, type Operation, ref, text, flag, count, epochMs, nullable, list, described, object, query, wholeNumber, IP_OR_CIDR, responses, jsonBody } from './schemaKit.ts';

const SUBJECT_KIND: JsonObject = { type: 'string', enum: ['ip', 'cidr', 'user'] };
const COUNTS: JsonObject = { type: 'object', additionalProperties: count };
const SUBJECT_FIELDS: { [name: string]: JsonObject } = {
  ip: described(IP_OR_CIDR, 'an address or a range (give ip or user, not both)'),
  user: described({ type: 'string', minLength: 1, maxLength: MAX_USER_LENGTH }, 'a user id exactly as the app reports it (give ip or user, not both)'),
  force: described({ type: 'boolean', default: false }, 'take a range wider than IPWATCH_ERASE_MAX_PREFIX_V4/_V6 (/24 and /48 by default)'),
};
/** Exactly one of ip and user. */
const ONE_SUBJECT: JsonObject = { oneOf: [{ properties: { ip: true }, required: ['ip'] }, { properties: { user: true }, required: ['user'] }] };

export const privacySchemas: { [name: string]: JsonObject } = {
  PrivacyExportRequest: {
    ...object({ ...SUBJECT_FIELDS, format: described({ type: 'string', enum: [...EXPORT_FORMATS], default: 'json' }, 'json: the answer below; csv: one file, a line per field of a row (table,row,field,value,meaning)') }, ['ip', 'user', 'force', 'format']),
    ...ONE_SUBJECT,
  },
  PrivacyEraseRequest: { ...object(SUBJECT_FIELDS, ['ip', 'user', 'force']), ...ONE_SUBJECT },
  HeldItem: object({
    kind: described(text, 'what it is: rate-limit counter, alert sent, ...'),
    name: described(text, 'which one: the key, or what it names'),
    expiresAt: described(nullable(epochMs), 'when it goes by itself, if left alone (null: unknown or never)'),
    detail: text,
  }),
  ExportedTable: object({
    table: described(text, 'the ClickHouse table'),
    description: described(text, 'what a row is'),
    fields: described({ type: 'object', additionalProperties: text }, 'every column, with what it means'),
    rows: list({ type: 'object', description: 'a row: column -> value (times in ISO 8601, UTC)' }, { description: 'oldest first' }),
    truncated: described({ type: 'boolean' }, 'true when the table held more rows about the subject than an export takes (1,000,000): ask for a narrower range'),
  }),
  PrivacyExport: object({
    subject: described(text, 'the subject as asked, canonical'),
    subjectKind: SUBJECT_KIND,
    generatedAt: epochMs,
    auditId: described(text, 'the audit log\'s id of this export: what the operator files with the request'),
    tables: list(ref('ExportedTable')),
    held: list(object({ place: described(text, 'where, outside ClickHouse: Redis, a cache'), items: list(ref('HeldItem')) })),
    total: described(count, 'rows in all tables'),
  }),
  Remaining: object(
    {
      place: text,
      what: text,
      until: described(nullable(epochMs), 'when it is gone by itself; null: it stays until someone acts'),
      action: described(text, 'what the operator can do about it'),
      entry: described(
        object({ list: { type: 'string', enum: ['blocks', 'allow'] }, target: described(text, 'the address or range listed') }),
        'a list entry in force (a block, an allowlist entry): which one, to lift it',
      ),
    },
    ['action', 'entry'],
  ),
  ErasureReport: object({
    auditId: described(text, 'the audit log\'s id of this erasure: what the operator files with the request'),
    subject: text,
    subjectKind: SUBJECT_KIND,
    removed: described(COUNTS, 'rows deleted per table, in this run'),
    scrubbed: described(COUNTS, 'rows kept with a field about the subject cleared (a username in another client\'s login), per table'),
    rebuilt: described(object({ minutes: count, hours: count, fiveMinutes: count }), 'rollup buckets aggregated again without the subject'),
    forgotten: described(COUNTS, 'entries forgotten outside ClickHouse, per place'),
    remaining: described(list(ref('Remaining')), 'what ipwatch cannot remove now, and until when'),
    resumed: described(flag, 'an earlier run had stopped half-way and this one finished it'),
    nothingFound: described(flag, 'nothing was stored about the subject (not an error)'),
  }),
  AuditEntry: object({
    id: text,
    ts: epochMs,
    actor: described(text, 'the authenticated caller'),
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    subjectKind: described(text, 'ip, cidr, user (or sql for a query): never the address or user id'),
    subjectBits: described(count, 'a range\'s prefix length (32 or 128 for one address, 0 for a user)'),
    outcome: { type: 'string', enum: ['started', 'completed', 'nothing_found', 'refused', 'failed'] },
    rows: described(COUNTS, 'rows per table (exported, removed or read) and entries per place'),
    note: text,
  }),
  AuditList: object({ rows: list(ref('AuditEntry'), { description: 'newest first' }) }),
  PendingErasure: object({ id: described(text, 'the audit id of the erasure'), startedAt: epochMs, actor: text, subject: described(text, 'ip:ADDRESS or user:ID: run the erasure again to finish it') }),
  PendingErasures: object({ rows: list(ref('PendingErasure'), { description: 'oldest first' }) }),
};

const CHANGE_ERRORS = ['413', '415', '503'];

export const privacyPaths: { [path: string]: { [method in HttpMethod]?: Operation } } = {
  '/privacy/export': {
    post: {
      operationId: 'privacyExport',
      summary: 'Everything stored about an address, a range or a user, with what each field means (recorded in the audit log)',
      tags: ['privacy'],
      requestBody: jsonBody(ref('PrivacyExportRequest'), 'whom it is about; fields not listed here are refused, naming them'),
      responses: (() => {
        const r = responses({ 200: { description: 'the export (format csv: text/csv, an attachment named by the audit id)', schema: ref('PrivacyExport') } }, CHANGE_ERRORS);
        ((r['200'] as JsonObject).content as JsonObject)['text/csv'] = { schema: { type: 'string', description: 'table,row,field,value,meaning; one line per field of a row' } };
        return r;
      })(),
    },
  },
  '/privacy/erase': {
    post: {
      operationId: 'privacyErase',
      summary: 'Erase an address, a range or a user everywhere ipwatch can, and say what stays and until when (recorded in the audit log; run again to finish an interrupted one)',
      tags: ['privacy'],
      requestBody: jsonBody(ref('PrivacyEraseRequest'), 'whom it is about; fields not listed here are refused, naming them'),
      responses: responses({ 200: { description: 'erased, or nothing was stored (nothingFound)', schema: ref('ErasureReport') } }, CHANGE_ERRORS),
    },
  },
  '/privacy/audit': {
    get: {
      operationId: 'privacyAudit',
      summary: 'The privacy audit log, newest first: who exported or erased what kind of subject, when, how many rows (never the address)',
      tags: ['privacy'],
      parameters: [query('limit', wholeNumber(1, MAX_AUDIT_LIMIT, 100), 'at most this many entries'), query('action', { type: 'string', enum: [...AUDIT_ACTIONS] }, 'only this kind of act')],
      responses: responses({ 200: { description: 'the entries', schema: ref('AuditList') } }, ['503']),
    },
  },
  '/privacy/pending': {
    get: {
      operationId: 'privacyPending',
      summary: 'Erasures stopped half-way (a crash): run each again to finish it',
      tags: ['privacy'],
      responses: responses({ 200: { description: 'the erasures under way or stopped', schema: ref('PendingErasures') } }, ['503']),
    },
  },
};
