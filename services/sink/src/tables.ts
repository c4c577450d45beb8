/**
 * Which topic lands in which ClickHouse table, and how one decoded value becomes one row.
 * A value that cannot become a row (an address that is not an IP) is unprocessable: the
 * sink sends it to the DLQ instead of failing the batch.
 */
import { codecs, type Codec, type EnrichedRequest, type RateLimitEvent, type Detection } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { canonicalIp } from '@ipwatch/core/ip';
import { IpwatchError } from '@ipwatch/core/errors';
import type { StreamTable } from '@ipwatch/store';

export class RowError extends IpwatchError {
  override readonly name = 'RowError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_UNSTORABLE_EVENT', message, options);
  }
}

/** Which message a row came from: kept in every row so replays can be recognised. */
export interface Origin {
  epoch: string;
  partition: number;
  offset: string;
}

export interface TableMapping<T> {
  topic: string;
  table: StreamTable;
  codec: Codec<T>;
  toRow(value: T, origin: Origin): Record<string, unknown>;
}

function ipColumn(text: string): string {
  const ip = canonicalIp(text);
  if (ip === null) throw new RowError(`ip ${JSON.stringify(text.slice(0, 64))} is not an IP address`);
  // The IPv6 column stores IPv4 mapped into ::ffff:0:0/96.
  return ip.includes(':') ? ip : `::ffff:${ip}`;
}

const requests: TableMapping<EnrichedRequest> = {
  topic: TOPICS.enriched,
  table: 'requests',
  codec: codecs.EnrichedRequest,
  toRow: ({ request: r, geo: g, enrichedAt }, o) => ({
    event_id: r.id,
    ts: r.ts,
    ip: ipColumn(r.ip),
    ip_anonymisation: r.ipAnonymisation,
    app: r.app,
    instance: r.instance,
    method: r.method,
    host: r.host,
    path: r.path,
    status: r.status,
    latency_ms: r.latencyMs,
    bytes: r.bytes,
    user_agent: r.userAgent,
    referer: r.referer,
    user_id: r.userId,
    authenticated: r.authenticated,
    blocked: r.blocked,
    rate_limited: r.rateLimited,
    login: r.login ?? 'none',
    login_user: r.loginUser ?? null,
    country: g.country,
    region: g.region,
    city: g.city,
    latitude: g.latitude,
    longitude: g.longitude,
    asn: g.asn,
    org: g.org,
    geo_source: g.source,
    enriched_at: enrichedAt,
    log_epoch: o.epoch,
    kafka_partition: o.partition,
    kafka_offset: o.offset,
  }),
};

const rateLimitEvents: TableMapping<RateLimitEvent> = {
  topic: TOPICS.rateLimit,
  table: 'rate_limit_events',
  codec: codecs.RateLimitEvent,
  toRow: (e, o) => ({
    ts: e.ts,
    ip: ipColumn(e.ip),
    rule: e.rule,
    limit_key: e.limitKey,
    limit: e.limit,
    window_ms: e.windowMs,
    count: e.count,
    path: e.path,
    user_id: e.userId,
    app: e.app,
    log_epoch: o.epoch,
    kafka_partition: o.partition,
    kafka_offset: o.offset,
  }),
};

const detections: TableMapping<Detection> = {
  topic: TOPICS.detections,
  table: 'detections',
  codec: codecs.Detection,
  toRow: (d, o) => ({
    id: d.id,
    ts: d.ts,
    ip: ipColumn(d.ip),
    rule: d.rule,
    severity: d.severity,
    score: d.score,
    window_start: d.windowStart,
    window_end: d.windowEnd,
    evidence: d.evidence,
    action: d.action,
    client: d.client,
    mode: d.mode,
    count: d.count,
    threshold: d.threshold,
    block_expires_at: d.blockExpiresAt,
    offence: d.offence,
    log_epoch: o.epoch,
    kafka_partition: o.partition,
    kafka_offset: o.offset,
  }),
};

/** A mapping of any value type; the codec's output is exactly what its toRow takes. */
type SomeMapping = TableMapping<unknown>;
// One cast for the list: TableMapping<T> is not assignable to TableMapping<unknown> because toRow takes a T.
const MAPPINGS = [requests, rateLimitEvents, detections] as unknown as SomeMapping[];

/** The topics the sink consumes. */
export const SINK_TOPICS: readonly string[] = MAPPINGS.map((m) => m.topic);

export function mappingFor(topic: string): SomeMapping | undefined {
  return MAPPINGS.find((m) => m.topic === topic);
}
