import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, uniqueName } from '../../../../test/support/components.ts';
import { eventLogContract } from './contract.ts';
import { createKafkaEventLog, type KafkaClientLogEntry } from './kafka.ts';

const brokers = kafkaBrokers();

eventLogContract('kafka', async () =>
  createKafkaEventLog({
    brokers,
    clientId: uniqueName('contract'),
    // Short sessions and fetch waits: the harness broker allows sessions down to 1 s.
    consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 6000, maxWaitTimeInMs: 100 },
    retryBackoffMs: 50,
    log: (e: KafkaClientLogEntry) => process.stderr.write(`kafkajs ${e.level} [${e.namespace}] ${e.message} ${JSON.stringify(e.extra)}\n`),
  }),
);

test('kafka: readRange leaves no consumer group behind, and reading does not create a missing topic', async () => {
  const clientId = uniqueName('range');
  const log = createKafkaEventLog({ brokers, clientId, consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, maxWaitTimeInMs: 100 } });
  const admin = new Kafka({ brokers, clientId: `${clientId}-admin`, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topic = uniqueName('range-groups');
    await log.ensureTopics([{ name: topic, partitions: 1, config: { 'cleanup.policy': 'delete' } }]);
    await log.produce(topic, [{ key: 'k', value: Buffer.from('v') }]);
    const { records } = await log.readRange(topic, { sinceMs: 0, onMessage: () => undefined });
    assert.equal(records, 1, 'the read went through a consumer');
    const ours = (await admin.listGroups()).groups.filter((g) => g.groupId.startsWith(`${clientId}.`));
    assert.deepEqual(ours, [], 'the throwaway group is deleted');

    const missing = uniqueName('range-missing');
    assert.equal((await log.readRange(missing, { sinceMs: 0, onMessage: () => undefined })).records, 0);
    assert.equal((await admin.listTopics()).includes(missing), false, 'the missing topic was not auto-created');
  } finally {
    await admin.disconnect();
    await log.close();
  }
}, 30_000);
