import { parseArgs } from 'node:util';
import { loadConfig } from '@ipwatch/core/config';
import { createEventLog } from '@ipwatch/core/eventLog/index';
import { alignTopicRetention, type TopicConfigChange } from '@ipwatch/core/eventLog/kafka';
import { topicSpecs } from '@ipwatch/core/topics';
import { out, UsageError } from '../output.ts';

export const help = `ipwatch topics [--dry-run]
  Creates the Kafka topics of the design with their configs (compaction for blocks and
  rules; for the streams, retention IPWATCH_TOPIC_RETENTION_HOURS and, for the dead-letter
  topic, IPWATCH_DLQ_RETENTION_DAYS). A stream topic that exists with another retention is
  changed to the configured one, and each change printed; compacted topics are left as they
  are. --dry-run prints the configs, and with a broker what would change. Safe to run again.
  Needs IPWATCH_KAFKA_BROKERS.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const config = loadConfig();
  const specs = topicSpecs(config.kafka?.topicPartitions, config.retention);
  if (values['dry-run']) {
    for (const s of specs) out(`${s.name}  partitions=${s.partitions}  ${Object.entries(s.config).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (config.kafka) for (const c of await alignTopicRetention(config.kafka, specs, { dryRun: true })) out(describe(c, 'would be set'));
    return 0;
  }
  if (!config.kafka) throw new UsageError('no Kafka to create topics on: set IPWATCH_KAFKA_BROKERS (the embedded mode needs no topics)');
  const log = createEventLog(config);
  try {
    await log.ensureTopics(specs);
  } finally {
    await log.close();
  }
  const changes = await alignTopicRetention(config.kafka, specs);
  for (const s of specs) out(`ok ${s.name} (${s.config['cleanup.policy']}${s.config['retention.ms'] ? `, retention ${duration(s.config['retention.ms'])}` : ''})`);
  for (const c of changes) out(describe(c, 'set'));
  return 0;
}

function describe(c: TopicConfigChange, verb: string): string {
  return `${c.config} of ${c.topic} ${verb} to ${duration(c.value)} (was ${c.was === '' ? 'unset' : duration(c.was)})`;
}

/** Milliseconds as the config gives them: whole days or hours when they are. */
function duration(ms: string): string {
  const n = Number(ms);
  if (n === -1) return 'forever';
  if (!Number.isSafeInteger(n) || n <= 0) return `${ms} ms`;
  if (n % 86_400_000 === 0) return n === 86_400_000 ? '1 day' : `${n / 86_400_000} days`;
  if (n % 3_600_000 === 0) return `${n / 3_600_000} h`;
  return `${n} ms`;
}
