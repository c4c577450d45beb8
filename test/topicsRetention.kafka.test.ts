/**
 * Retention of the Kafka topics, enforced (README, "Retention"): `ipwatch topics` gives the
 * stream topics IPWATCH_TOPIC_RETENTION_HOURS and the DLQ IPWATCH_DLQ_RETENTION_DAYS, changes
 * them on topics that exist, says so, and leaves compacted topics and an operator's own configs
 * alone. The real topics are shared with the other Kafka tests: they are only ever given a
 * retention longer than any test, and the defaults back at the end.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { alignTopicRetention, createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { TOPICS, topicSpecs, type TopicSpec } from '@ipwatch/core/topics';
import { kafkaBrokers, uniqueName } from './support/components.ts';
import { runCli } from './support/cli.ts';

const { Kafka, ConfigResourceTypes, ConfigSource, logLevel } = kafkajs;
type Admin = ReturnType<InstanceType<typeof Kafka>['admin']>;

const H = 3_600_000;
const STREAMS = [TOPICS.requests, TOPICS.enriched, TOPICS.rateLimit, TOPICS.detections];

/** Each topic's configs of its own (set on the topic, not the broker's defaults). */
async function ownConfigs(admin: Admin, topics: string[]): Promise<Record<string, Record<string, string>>> {
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) });
  return Object.fromEntries(
    described.resources.map((r) => [r.resourceName, Object.fromEntries(r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]))]),
  );
}

async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ brokers: kafkaBrokers(), clientId: uniqueName('retention-test'), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

test('ipwatch topics gives the streams and the DLQ their configured retention, changes it on existing topics and says so', async () => {
  const env = (extra: Record<string, string> = {}) => ({ IPWATCH_KAFKA_BROKERS: kafkaBrokers().join(','), ...extra });
  const longer = env({ IPWATCH_TOPIC_RETENTION_HOURS: '240', IPWATCH_DLQ_RETENTION_DAYS: '45' });

  const set = await runCli(['topics'], longer);
  assert.equal(set.code, 0, set.stderr);
  const blocksBefore = (await withAdmin((a) => ownConfigs(a, [TOPICS.blocks])))[TOPICS.blocks];
  await withAdmin(async (admin) => {
    const own = await ownConfigs(admin, [...STREAMS, TOPICS.dlq]);
    for (const t of STREAMS) assert.deepEqual([own[t]?.['retention.ms'], own[t]?.['segment.ms']], [String(240 * H), String(24 * H)], t);
    assert.deepEqual([own[TOPICS.dlq]?.['retention.ms'], own[TOPICS.dlq]?.['segment.ms']], [String(45 * 24 * H), String(24 * H)]);
  });

  const same = await runCli(['topics'], longer);
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stdout, / of ipwatch\./, `the same config again changes nothing: ${same.stdout}`);

  const dry = await runCli(['topics', '--dry-run'], env());
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /retention\.ms of ipwatch\.requests\.v1 would be set to 7 days \(was 10 days\)/);
  assert.equal((await withAdmin((a) => ownConfigs(a, [TOPICS.requests])))[TOPICS.requests]?.['retention.ms'], String(240 * H), 'a dry run changes nothing');

  const back = await runCli(['topics'], env());
  assert.equal(back.code, 0, back.stderr);
  for (const t of STREAMS) assert.match(back.stdout, new RegExp(`retention\\.ms of ${t.replaceAll('.', '\\.')} set to 7 days \\(was 10 days\\)`));
  assert.match(back.stdout, /retention\.ms of ipwatch\.dlq\.v1 set to 30 days \(was 45 days\)/);
  assert.doesNotMatch(back.stdout, /of ipwatch\.(blocks|allowlist|rules)\.v1/, 'compacted topics are not touched');
  await withAdmin(async (admin) => {
    const own = await ownConfigs(admin, [...STREAMS, TOPICS.dlq, TOPICS.blocks]);
    for (const t of STREAMS) assert.equal(own[t]?.['retention.ms'], String(168 * H), t);
    assert.equal(own[TOPICS.dlq]?.['retention.ms'], String(30 * 24 * H));
    assert.deepEqual(own[TOPICS.blocks], blocksBefore);
    assert.equal(own[TOPICS.blocks]?.['cleanup.policy'], 'compact');
  });
}, 180_000);

test('changing a topic\'s retention keeps the configs an operator set on it', async () => {
  const name = uniqueName('retention-stream');
  const spec = (hours: number): TopicSpec[] => [{ ...(topicSpecs(1, { topicHours: hours, dlqDays: 30 })[0] as TopicSpec), name }];
  const client = { brokers: kafkaBrokers(), clientId: uniqueName('retention-test') };
  const log = createKafkaEventLog(client);
  try {
    await log.ensureTopics(spec(48));
  } finally {
    await log.close();
  }
  await withAdmin(async (admin) => {
    const own = (await ownConfigs(admin, [name]))[name] ?? {};
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name, configEntries: Object.entries({ ...own, 'max.message.bytes': '2097152' }).map(([n, value]) => ({ name: n, value })) }] });
  });

  assert.deepEqual(await alignTopicRetention(client, spec(48)), [], 'nothing to change');
  assert.deepEqual(await alignTopicRetention(client, spec(2)), [
    { topic: name, config: 'retention.ms', value: String(2 * H), was: String(48 * H) },
    { topic: name, config: 'segment.ms', value: String(2 * H), was: String(24 * H) },
  ]);
  const own = (await withAdmin((a) => ownConfigs(a, [name])))[name];
  assert.deepEqual(own, { 'cleanup.policy': 'delete', 'retention.ms': String(2 * H), 'segment.ms': String(2 * H), 'max.message.bytes': '2097152' });
}, 120_000);
