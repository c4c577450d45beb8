/**
 * Avro codecs for every topic value, loaded from the `.avsc` files in /schemas (the wire
 * contract). Named types are shared through one registry, so EnrichedRequest reuses the
 * RequestEvent and Geo definitions rather than copying them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { IpwatchError } from './errors.ts';

/**
 * The `.avsc` files: in the repository, /schemas itself; in the built package, the copy the
 * build puts beside this module (dist/avsc/), since an installed package has no /schemas.
 */
export const SCHEMA_DIR = [new URL('./avsc/', import.meta.url), new URL('../../../schemas/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(`${dir}RequestEvent.avsc`)) as string;

/** Load order matters: a schema may only name types loaded before it. */
export const SCHEMA_NAMES = ['RequestEvent', 'Geo', 'EnrichedRequest', 'RateLimitEvent', 'Detection', 'BlockDecision', 'AllowEntry', 'Rule'] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

export type IpAnonymisation = 'off' | 'truncate' | 'hash';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface RequestEvent {
  id: string;
  ts: number;
  ip: string;
  ipAnonymisation: IpAnonymisation;
  app: string;
  instance: string;
  method: string;
  host: string;
  path: string;
  status: number;
  latencyMs: number;
  bytes: number;
  userAgent: string;
  referer: string;
  userId: string | null;
  authenticated: boolean;
  blocked: boolean;
  rateLimited: boolean;
  /** A login attempt and its outcome as the app reports it; 'none' when the request is not one. */
  login?: LoginOutcome;
  /** The username a login attempt named (bounded), or null. */
  loginUser?: string | null;
  /** The client's network (CIDR) beside a hash pseudonym, for geolocation only: the enricher clears it. */
  network?: string | null;
}

export type LoginOutcome = 'none' | 'failed' | 'succeeded';
export type RuleMode = 'live' | 'dry_run';

export interface Geo {
  country: string;
  region: string;
  city: string;
  latitude: number | null;
  longitude: number | null;
  asn: number;
  org: string;
  source: string;
}

export interface EnrichedRequest {
  request: RequestEvent;
  geo: Geo;
  enrichedAt: number;
}

export interface RateLimitEvent {
  ts: number;
  ip: string;
  rule: string;
  limitKey: string;
  limit: number;
  windowMs: number;
  count: number;
  path: string;
  userId: string | null;
  app: string;
}

export interface Detection {
  id: string;
  ts: number;
  ip: string;
  rule: string;
  severity: Severity;
  score: number;
  windowStart: number;
  windowEnd: number;
  evidence: Record<string, string>;
  action: 'none' | 'alert' | 'block';
  /** What was scored: the IP, or an IPv6 network such as 2001:db8:1:2::/64; the block target. */
  client: string;
  mode: RuleMode;
  /** The figure that crossed the threshold. */
  count: number;
  threshold: number;
  blockExpiresAt: number | null;
  /** Which offence of this client within the escalation memory (1: the first). */
  offence: number;
}

export interface BlockDecision {
  target: string;
  reason: string;
  source: string;
  severity: Severity;
  createdAt: number;
  expiresAt: number | null;
  createdBy: string;
}

export interface AllowEntry {
  target: string;
  reason: string;
  createdAt: number;
  expiresAt: number | null;
  createdBy: string;
}

export interface Rule {
  id: string;
  kind: string;
  enabled: boolean;
  windowMs: number;
  threshold: number;
  severity: Severity;
  autoBlock: boolean;
  blockForMs: number | null;
  params: Record<string, string>;
  updatedAt: number;
  description: string;
  mode: RuleMode;
  /** Block durations (ms) for the 1st, 2nd, ... offence; the last repeats. Empty: blockForMs. */
  escalation: number[];
  escalationMemoryMs: number;
  /** No second detection of one client by this rule for this long; 0: the rule's window. */
  quietMs: number;
  updatedBy: string;
}

interface ValueTypes {
  RequestEvent: RequestEvent;
  Geo: Geo;
  EnrichedRequest: EnrichedRequest;
  RateLimitEvent: RateLimitEvent;
  Detection: Detection;
  BlockDecision: BlockDecision;
  AllowEntry: AllowEntry;
  Rule: Rule;
}

/** Thrown when bytes are not a valid encoding: the message belongs on the DLQ, not in a retry loop. */
export class DecodeError extends IpwatchError {
  override readonly name = 'DecodeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_MALFORMED_EVENT', message, options);
  }
}

export interface Codec<T> {
  readonly name: SchemaName;
  readonly type: avro.Type;
  encode(value: T): Buffer;
  /** Throws DecodeError on bytes that are not exactly one value of this schema. */
  decode(bytes: Buffer): T;
}

export function readSchema(name: string): avro.Schema {
  return JSON.parse(readFileSync(`${SCHEMA_DIR}${name}.avsc`, 'utf8')) as avro.Schema;
}

/** Parses schemas in order into one registry; exported for the compatibility check. */
export function loadTypes(schemas: Array<[string, avro.Schema]>): Map<string, avro.Type> {
  const registry: Record<string, avro.Type> = {};
  const types = new Map<string, avro.Type>();
  for (const [name, schema] of schemas) types.set(name, avro.Type.forSchema(schema, { registry }));
  return types;
}

/**
 * Readers of the schema as older writers knew it. Events carry no schema id, and a field added
 * since (always last, with a default: schemas/README.md) is simply absent from an older writer's
 * bytes: an app on an older emitter writes RequestEvents without `login` or `network`. Each
 * shorter version of the record (its fields up to one that has no default) is resolved into the
 * current schema, so those bytes decode with the new fields at their defaults. Tried only when the
 * current schema finds the bytes truncated, longest version first.
 */
function olderWriters(schema: avro.Schema | undefined, type: avro.Type): avro.Resolver[] {
  const record = schema as { type?: string; fields?: Array<{ default?: unknown }> } | undefined;
  if (!record || record.type !== 'record' || !record.fields) return [];
  const out: avro.Resolver[] = [];
  for (let k = record.fields.length - 1; k >= 1 && record.fields[k]!.default !== undefined; k--) {
    try {
      const writer = avro.Type.forSchema({ ...(record as object), fields: record.fields.slice(0, k) } as avro.Schema, { registry: {} });
      out.push(type.createResolver(writer));
    } catch {
      // A version that names a type defined in another schema (Rule's Severity) cannot stand alone: not offered.
    }
  }
  return out;
}

function makeCodec<N extends SchemaName>(name: N, type: avro.Type, schema?: avro.Schema): Codec<ValueTypes[N]> {
  let older: avro.Resolver[] | null = null;
  return {
    name,
    type,
    encode: (value) => type.toBuffer(value),
    decode: (bytes) => {
      let decoded: { value: unknown; offset: number };
      try {
        decoded = type.decode(bytes, 0);
      } catch (err) {
        throw new DecodeError(`not a valid ${name}: ${(err as Error).message}`);
      }
      if (decoded.offset < 0) {
        try {
          older ??= olderWriters(schema, type);
        } catch {
          older = [];
        }
        for (const resolver of older) {
          try {
            const d = type.decode(bytes, 0, resolver);
            if (d.offset === bytes.length) return d.value as ValueTypes[N];
          } catch {
            // not this version
          }
        }
      }
      // offset -1: truncated; offset short of the end: trailing garbage. Both are corrupt.
      if (decoded.offset !== bytes.length) {
        throw new DecodeError(`not a valid ${name}: ${decoded.offset < 0 ? 'truncated' : 'trailing bytes'}`);
      }
      return decoded.value as ValueTypes[N];
    },
  };
}

const schemas = new Map(SCHEMA_NAMES.map((n) => [n, readSchema(n)] as const));
const types = loadTypes([...schemas]);
const codec = <N extends SchemaName>(n: N) => makeCodec(n, types.get(n)!, schemas.get(n));

export const codecs = {
  RequestEvent: codec('RequestEvent'),
  Geo: codec('Geo'),
  EnrichedRequest: codec('EnrichedRequest'),
  RateLimitEvent: codec('RateLimitEvent'),
  Detection: codec('Detection'),
  BlockDecision: codec('BlockDecision'),
  AllowEntry: codec('AllowEntry'),
  Rule: codec('Rule'),
} as const;

/** Header that names the value's schema, so a DLQ reader knows what the bytes were meant to be. */
export const SCHEMA_HEADER = 'ipwatch-schema';
