/** The distributed mode's commands against a real broker: topics, and a service run as its own process. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import kafkajs from 'kafkajs';
import { TOPICS } from '@ipwatch/core/topics';
import { kafkaBrokers } from './support/components.ts';

const { Kafka, ConfigResourceTypes, logLevel } = kafkajs;
import { runCli, startCli, tempDir } from './support/cli.ts';

test('ipwatch topics creates the design\'s topics: compacted blocks and rules, streams with retention', async () => {
  const brokers = kafkaBrokers();
  const res = await runCli(['topics'], { IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_TOPIC_PARTITIONS: '3' });
  assert.equal(res.code, 0, res.stderr);
  const again = await runCli(['topics'], { IPWATCH_KAFKA_BROKERS: brokers.join(',') });
  assert.equal(again.code, 0, `idempotent: ${again.stderr}`);

  const admin = new Kafka({ brokers, clientId: 'cli-test', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [TOPICS.blocks, TOPICS.rules, TOPICS.requests].map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] })),
    });
    const policy = Object.fromEntries(described.resources.map((r) => [r.resourceName, r.configEntries[0]?.configValue]));
    assert.equal(policy[TOPICS.blocks], 'compact');
    assert.equal(policy[TOPICS.rules], 'compact');
    assert.equal(policy[TOPICS.requests], 'delete');
  } finally {
    await admin.disconnect();
  }
}, 120_000);

test('ipwatch run enricher serves health and metrics, and stops cleanly on SIGTERM', async () => {
  const child = startCli(['run', 'enricher'], { IPWATCH_KAFKA_BROKERS: kafkaBrokers().join(','), IPWATCH_METRICS_PORT: '0' });
  let port = 0;
  const deadline = Date.now() + 60_000;
  while (!port && Date.now() < deadline && child.exitCode === null) {
    port = Number(/metrics and health on :(\d+)/.exec(child.output().stderr)?.[1] ?? 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(port > 0, `the service said where it listens: ${child.output().stderr}`);
  const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { state: string; checks: Record<string, unknown> };
  assert.equal(health.state, 'ok');
  assert.ok('enricher' in health.checks);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /ipwatch_events_in_total/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, child.output().stderr);
}, 120_000);

test('ipwatch run sink refuses a store whose schema is behind, saying to migrate', async () => {
  const res = await runCli(['run', 'sink'], { IPWATCH_KAFKA_BROKERS: kafkaBrokers().join(','), IPWATCH_METRICS_PORT: '0', IPWATCH_DATA_DIR: tempDir('ipwatch-unmigrated') });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /schema is behind \(0 of \d+ migrations applied\): run `ipwatch migrate` first/);
}, 120_000);
