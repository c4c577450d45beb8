/**
 * @ipwatch/core: what every ipwatch part shares. An app needs only the adapters it connects
 * with; the rest (config, observability, codecs) serves the services. Each module is also
 * its own entry (`@ipwatch/core/eventLog/kafka`, ...) for a lighter import.
 *
 * @example
 * import { createKafkaEventLog, createRedisSharedLists } from '@ipwatch/core';
 * const log = createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'shop' });
 * const lists = createRedisSharedLists('redis://redis:6379');
 */
export { createKafkaEventLog, type KafkaEventLogOptions } from './eventLog/kafka.ts';
export { createMemoryEventLog, type MemoryEventLogOptions } from './eventLog/memory.ts';
export type { EventLog, OutgoingMessage, LogMessage, LogBatch } from './eventLog.ts';
export { createRedisSharedLists, type RedisSharedListsOptions } from './sharedLists/redis.ts';
export { createMemorySharedLists, type MemorySharedListsOptions } from './sharedLists/memory.ts';
export type { SharedLists, ListName, ListEntry, ListChange } from './sharedLists.ts';
export { TOPICS, type TopicName } from './topics.ts';
export { ERRORS, IpwatchError, isIpwatchError, statusOf, exitCodeOf, type ErrorCode, type ErrorSpec } from './errors.ts';
