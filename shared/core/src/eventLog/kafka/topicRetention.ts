/**
 * The retention of existing stream topics brought to what their specs say (`ipwatch topics`):
 * creating a topic sets its configs, but a topic that exists keeps the ones it was created with.
 * Compacted topics are left alone (they hold state, not events).
 *
 * kafkajs has only the legacy AlterConfigs request, which replaces a topic's whole set of
 * configs: each alter names every config set on the topic (an operator's own included), not only
 * the ones that change.
 *
 * @example
 * const changes = await alignTopicRetention({ brokers, clientId: 'ipwatch-cli' }, topicSpecs(6, config.retention));
 */
import kafkajs, { type Admin } from 'kafkajs';
import type { TopicSpec } from '../../topics.ts';
import { KAFKA_LOG_LEVELS, kafkaLogCreator } from './clientLog.ts';

// Node's ESM finds only some of kafkajs's CommonJS exports by name (not these two).
const { ConfigResourceTypes, ConfigSource, Kafka } = kafkajs;

/** The configs of a delete-policy spec that are kept equal to it on an existing topic. */
export const ALIGNED_CONFIGS = ['retention.ms', 'segment.ms'] as const;

export interface TopicConfigChange {
  topic: string;
  config: (typeof ALIGNED_CONFIGS)[number];
  value: string;
  /** The value the topic had (its own, or the broker's default). */
  was: string;
}

/**
 * Sets retention.ms and segment.ms of each existing delete-policy topic of `specs` where they
 * differ from the spec; topics that do not exist are skipped (create them first). Returns what
 * changed (with `dryRun`, what would).
 */
export async function alignTopicRetention(
  client: { brokers: string[]; clientId: string },
  specs: TopicSpec[],
  options: { dryRun?: boolean } = {},
): Promise<TopicConfigChange[]> {
  const admin = new Kafka({ ...client, logLevel: KAFKA_LOG_LEVELS.error, logCreator: kafkaLogCreator() }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const streams = specs.filter((s) => s.config['cleanup.policy'] === 'delete' && existing.has(s.name));
    if (streams.length === 0) return [];
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: streams.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.name })) });
    const changes: TopicConfigChange[] = [];
    for (const spec of streams) {
      const entries = described.resources.find((r) => r.resourceName === spec.name)?.configEntries ?? [];
      const current = new Map(entries.map((e) => [e.configName, e.configValue]));
      const changed = ALIGNED_CONFIGS.filter((c) => spec.config[c] !== undefined && current.get(c) !== spec.config[c]);
      if (changed.length === 0) continue;
      for (const c of changed) changes.push({ topic: spec.name, config: c, value: spec.config[c] as string, was: current.get(c) ?? '' });
      if (!options.dryRun) await alterKeepingOthers(admin, spec, entries, changed);
    }
    return changes;
  } finally {
    await admin.disconnect();
  }
}

type ConfigEntry = Awaited<ReturnType<Admin['describeConfigs']>>['resources'][number]['configEntries'][number];

/** One AlterConfigs of `spec`'s topic: the configs set on it now, with `changed` taken from the spec. */
async function alterKeepingOthers(admin: Admin, spec: TopicSpec, entries: ConfigEntry[], changed: readonly string[]): Promise<void> {
  const own = entries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG);
  const secret = own.find((e) => e.isSensitive);
  // The broker does not tell a sensitive value, and the alter would drop it.
  if (secret) throw new Error(`topic ${spec.name} has a sensitive config of its own (${secret.configName}), which an alter from here would erase: set ${changed.join(', ')} with kafka-configs.sh --alter instead`);
  const next = new Map(own.map((e) => [e.configName, e.configValue]));
  for (const c of changed) next.set(c, spec.config[c] as string);
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: spec.name, configEntries: [...next].map(([name, value]) => ({ name, value })) }],
  });
}
