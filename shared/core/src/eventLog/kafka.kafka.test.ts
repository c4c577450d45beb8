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
