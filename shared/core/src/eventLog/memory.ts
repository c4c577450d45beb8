/**
 * The in-process event log (the embedded mode), the public entry other packages import as
 * `@ipwatch/core/eventLog/memory`. Its parts live in ./memory/: log.ts (the EventLog),
 * partition.ts (storage, retention, compaction), persistence.ts (compacted topics on disk),
 * groupConsumer.ts (consumer groups, commits, retries), compactedReader.ts,
 * rangeRead.ts (readRange).
 *
 * @example
 * const log = createMemoryEventLog({ partitions: 4 });
 * await log.produce('ipwatch.requests.v1', [{ key: '203.0.113.7', value: encoded }]);
 */
export { createMemoryEventLog, type MemoryEventLogOptions } from './memory/log.ts';
