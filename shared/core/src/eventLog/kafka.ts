/**
 * The Kafka event log (kafkajs; the distributed mode), the public entry other packages import
 * as `@ipwatch/core/eventLog/kafka`. Its parts live in ./kafka/: log.ts (the EventLog: admin,
 * topics, wiring), producer.ts, groupConsumer.ts (commits after handle(), retries in place),
 * compactedReader.ts, rangeReader.ts (readRange), records.ts (kafkajs messages as LogMessage), clientLog.ts,
 * topicRetention.ts (`ipwatch topics`: existing stream topics' retention brought to the config).
 *
 * @example
 * const log = createKafkaEventLog({ brokers: ['127.0.0.1:9092'], clientId: 'enricher' });
 * await log.ensureTopics(topicSpecs());
 */
export { createKafkaEventLog, type KafkaConsumerTuning, type KafkaEventLogOptions } from './kafka/log.ts';
export type { KafkaClientLogEntry, KafkaLogLevelName } from './kafka/clientLog.ts';
export { alignTopicRetention, ALIGNED_CONFIGS, type TopicConfigChange } from './kafka/topicRetention.ts';
