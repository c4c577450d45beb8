import { parseArgs } from 'node:util';
import { loadConfig } from '@ipwatch/core/config';
import { createEventLog } from '@ipwatch/core/eventLog/index';
import { topicSpecs } from '@ipwatch/core/topics';
import { out, UsageError } from '../output.ts';

export const help = `ipwatch topics [--dry-run]
  Creates the Kafka topics of the design with their configs (compaction for blocks and
  rules, retention for the streams). Existing topics are left as they are.
  Needs IPWATCH_KAFKA_BROKERS.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const config = loadConfig();
  const specs = topicSpecs(config.kafka?.topicPartitions);
  if (values['dry-run']) {
    for (const s of specs) out(`${s.name}  partitions=${s.partitions}  ${Object.entries(s.config).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return 0;
  }
  if (!config.kafka) throw new UsageError('no Kafka to create topics on: set IPWATCH_KAFKA_BROKERS (the embedded mode needs no topics)');
  const log = createEventLog(config);
  try {
    await log.ensureTopics(specs);
    for (const s of specs) out(`ok ${s.name} (${s.config['cleanup.policy']})`);
    return 0;
  } finally {
    await log.close();
  }
}
