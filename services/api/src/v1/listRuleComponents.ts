/**
 * The component schemas of the OpenAPI document (openapi.ts) for what changes enforcement: the
 * block list and the allowlist (entries, changes, imports, their audit events) and the detection
 * rules. Closed (additionalProperties false), like every schema components.ts assembles.
 */
import { RULE_KINDS, RULE_MODES, SEVERITIES } from '@ipwatch/core/rules';
import { MAX_IMPORT } from '../listChanges.ts';
import { type JsonObject, ref, text, flag, count, epochMs, nullable, list, described, object, textMap, IP_OR_CIDR, RULE_ID_PATTERN } from './schemaKit.ts';

/** A severity, as blocks and rules take it (openapi.ts's parameters use it too, through components.ts). */
export const SEVERITY: JsonObject = { type: 'string', enum: [...SEVERITIES] };

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

/** The block list and the allowlist. */
export const listSchemas: { [name: string]: JsonObject } = {
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
};

/** The detection rules. */
export const ruleSchemas: { [name: string]: JsonObject } = {
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
};
