/** The Kafka topics of the design (ARCHITECTURE.md, "Topics"): one place that names them and their configs. */
import type { RetentionConfig } from './config.ts';

export const TOPICS = {
  requests: 'ipwatch.requests.v1',
  enriched: 'ipwatch.requests.enriched.v1',
  rateLimit: 'ipwatch.ratelimit.v1',
  detections: 'ipwatch.detections.v1',
  /**
   * Failed logins re-keyed by the username they named (value: the EnrichedRequest as it was),
   * written by the scorer so that one instance counts each account across all its clients.
   */
  logins: 'ipwatch.logins.v1',
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

const HOUR_MS = 3600 * 1000;

/**
 * Topic specs as `ipwatch topics` creates them. Compacted topics hold state (blocks, rules); the
 * rest are streams, kept `retention.topicHours` (the DLQ `retention.dlqDays`). Kafka deletes a
 * whole segment once its newest event is past the retention, so a segment spans at most a day:
 * no event outlives its retention by more than that.
 */
export function topicSpecs(partitions = 6, retention: Pick<RetentionConfig, 'topicHours' | 'dlqDays'> = { topicHours: 168, dlqDays: 30 }): TopicSpec[] {
  const deleting = (name: string, n: number, retentionMs: number): TopicSpec => ({
    name,
    partitions: n,
    config: { 'cleanup.policy': 'delete', 'retention.ms': String(retentionMs), 'segment.ms': String(Math.min(retentionMs, 24 * HOUR_MS)) },
  });
  const stream = (name: string) => deleting(name, partitions, retention.topicHours * HOUR_MS);
  const compacted = (name: string): TopicSpec => ({
    name,
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': String(HOUR_MS) },
  });
  return [
    stream(TOPICS.requests),
    stream(TOPICS.enriched),
    stream(TOPICS.rateLimit),
    stream(TOPICS.detections),
    stream(TOPICS.logins),
    compacted(TOPICS.blocks),
    compacted(TOPICS.allowlist),
    compacted(TOPICS.rules),
    deleting(TOPICS.dlq, 1, retention.dlqDays * 24 * HOUR_MS),
  ];
}
