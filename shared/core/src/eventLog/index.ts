/**
 * The event-log adapters and the one place that picks between them from the config:
 * no broker configured means the in-process log (embedded mode), a broker list means Kafka.
 *
 * @example
 * const log = createEventLog(loadConfig());
 */
import { join } from 'node:path';
import type { IpwatchConfig } from '../config.ts';
import type { EventLog } from '../eventLog.ts';
import { createKafkaEventLog, type KafkaEventLogOptions } from './kafka.ts';
import { createMemoryEventLog, type MemoryEventLogOptions } from './memory.ts';

export { createKafkaEventLog, createMemoryEventLog, type KafkaEventLogOptions, type MemoryEventLogOptions };
export type { KafkaClientLogEntry, KafkaConsumerTuning, KafkaLogLevelName } from './kafka.ts';
export { DLQ_HEADERS, sendToDlq, type SendToDlqOptions } from './dlq.ts';

export interface CreateEventLogOverrides {
  /** Extra Kafka client options (logging, timeouts) beside the brokers and client id from the config. */
  kafka?: Omit<KafkaEventLogOptions, 'brokers' | 'clientId'>;
  memory?: MemoryEventLogOptions;
}

/**
 * Kafka when the config names brokers, the in-process log otherwise. The in-process log keeps
 * its compacted topics (blocks, allowlist, rules) under `<dataDir>/log`, so they survive a
 * restart as Kafka's would, and its streams in memory for the configured retention at most.
 */
export function createEventLog(config: Pick<IpwatchConfig, 'kafka' | 'dataDir'> & Partial<Pick<IpwatchConfig, 'retention'>>, overrides: CreateEventLogOverrides = {}): EventLog {
  if (config.kafka === null) return createMemoryEventLog({ persistDir: join(config.dataDir, 'log'), retention: config.retention, ...overrides.memory });
  return createKafkaEventLog({ ...overrides.kafka, brokers: [...config.kafka.brokers], clientId: config.kafka.clientId });
}
