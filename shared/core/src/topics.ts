/** The Kafka topics of the design (ARCHITECTURE.md, "Topics"): one place that names them and their configs. */

export const TOPICS = {
  requests: 'ipwatch.requests.v1',
  enriched: 'ipwatch.requests.enriched.v1',
  rateLimit: 'ipwatch.ratelimit.v1',
  detections: 'ipwatch.detections.v1',
  blocks: 'ipwatch.blocks.v1',
  /** IPs and CIDRs that no block and no rate limit applies to (key: target, value: AllowEntry). */
  allowlist: 'ipwatch.allowlist.v1',
  rules: 'ipwatch.rules.v1',
  dlq: 'ipwatch.dlq.v1',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Kafka topic configs, e.g. cleanup.policy. */
  config: Record<string, string>;
}

const SEVEN_DAYS_MS = String(7 * 24 * 3600 * 1000);

/** Topic specs as `ipwatch topics` creates them. Compacted topics hold state (blocks, rules); the rest are streams. */
export function topicSpecs(partitions = 6): TopicSpec[] {
  const stream = (name: string): TopicSpec => ({
    name,
    partitions,
    config: { 'cleanup.policy': 'delete', 'retention.ms': SEVEN_DAYS_MS },
  });
  const compacted = (name: string): TopicSpec => ({
    name,
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': String(3600 * 1000) },
  });
  return [
    stream(TOPICS.requests),
    stream(TOPICS.enriched),
    stream(TOPICS.rateLimit),
    stream(TOPICS.detections),
    compacted(TOPICS.blocks),
    compacted(TOPICS.allowlist),
    compacted(TOPICS.rules),
    { ...stream(TOPICS.dlq), partitions: 1, config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600 * 1000) } },
  ];
}
