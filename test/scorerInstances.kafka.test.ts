/**
 * Two scorer instances in one consumer group behind the real enricher, on the real broker
 * (ipwatch issue 9). The scorer counts an IPv6 client per /64; the enricher keys the enriched
 * topic by that client (shared/core scoringClient), so an attacker rotating addresses inside
 * one /64 lands on one partition, one instance counts it whole and it is detected once.
 *
 * The control shows what the keying fixes: the same traffic keyed by address, as the enricher
 * used to key it, spreads over the partitions, both instances hold part of the /64 and neither
 * crosses the threshold.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import type { EventLog, LogConsumer, OutgoingMessage } from '@ipwatch/core/eventLog';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { codecs, SCHEMA_HEADER, type Detection, type Geo, type RequestEvent } from '@ipwatch/core/schemas';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { DEFAULT_RULES, defaultRule } from '@ipwatch/core/rules';
import { scoringClient } from '@ipwatch/core/scoringClient';
import { createEnricher, createGeoLookup, type Enricher } from '@ipwatch/enricher';
import { createCrawlerVerifier, createDetectionEngine, createScorer, type Scorer } from '@ipwatch/scorer';
import { kafkaBrokers, uniqueName } from './support/components.ts';
import { addressPlan, BROWSER_UA, eventually } from './support/attackTraffic.ts';

const { Kafka, AssignerProtocol, Partitioners, logLevel } = kafkajs;
type Admin = ReturnType<InstanceType<typeof Kafka>['admin']>;

/** Partitions the requests and enriched topics get at least, so two instances own two each or more. */
const MIN_PARTITIONS = 4;
const PATH_SCAN = defaultRule('path-scan')!;
/**
 * Distinct 404 paths, two per address: the whole /64 crosses path-scan (more than 20), and any
 * six of its twelve addresses (12 paths) stay well under it, estimate and all (windows.ts).
 */
const PATHS = 24;
const ADDRESSES = 12;
/** Good pages per address, sent first: the /64's error ratio stays under error-ratio's 0.5 all along. */
const GOOD_PER_ADDRESS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = uniqueName('scorer-instances');
const plan = addressPlan();
const stops: Array<() => unknown> = [];
let admin: Admin;
let log: EventLog;
let groupId: string;
let enrichedPartitions = 0;
const scorers: Array<{ scorer: Scorer; consumer: LogConsumer }> = [];
const detections: Detection[] = [];
/** Our events as they came out of the enricher: which partition, under which key. */
const enriched = new Map<string, { partition: number; key: string | null }>();
const blockTargets = new Set<string>();
/** What the scorer instances warned of: shown when an assertion fails. */
const warnings: string[] = [];

/** The partition the producer puts `key` on (its partitioner, kafkajs's Java-compatible default). */
function partitionOf(key: string): number {
  const partitionMetadata = Array.from({ length: enrichedPartitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  return Partitioners.DefaultPartitioner()({ topic: TOPICS.enriched, partitionMetadata, message: { key, value: null } });
}

/** The enriched partitions each member of the scorers' group owns, once the group is stable with both. */
async function assignment(): Promise<number[][] | null> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  if (g === undefined || g.state !== 'Stable' || g.members.length !== 2) return null;
  const owned = g.members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[TOPICS.enriched] ?? []);
  return owned.every((p) => p.length > 0) && owned.flat().length === enrichedPartitions ? owned : null;
}

/** The traffic of one /64: good pages from every address first, then PATHS distinct 404s spread over them. */
function traffic(addrs: readonly string[]): RequestEvent[] {
  const t0 = Date.now();
  const base = { ipAnonymisation: 'off', app: run, instance: 'i', method: 'GET', host: 'shop.example', latencyMs: 3, bytes: 512, userAgent: BROWSER_UA, referer: '', userId: null, authenticated: false, blocked: false, rateLimited: false } as const;
  const good = Array.from({ length: addrs.length * GOOD_PER_ADDRESS }, (_, i) => ({ ip: addrs[i % addrs.length]!, path: `/article/${i}`, status: 200 }));
  const missing = Array.from({ length: PATHS }, (_, i) => ({ ip: addrs[i % addrs.length]!, path: `/no-such-page/${i}`, status: 404 }));
  const all = [...good, ...missing];
  // A quarter second apart, ending now: 40 in any 10 s, under burst's 50.
  return all.map((r, i) => ({ ...base, ...r, id: `${run}-${r.ip}-${i}`, ts: t0 - (all.length - i) * 250 }));
}

/** What the engine, fed `events` in order in one process, detects: the rules' own verdict on the traffic. */
function oracle(events: readonly RequestEvent[]): string[] {
  const engine = createDetectionEngine({ rules: DEFAULT_RULES });
  return events.flatMap((e) => engine.observe(e).map((c) => `${c.detection.rule} ${c.detection.client}`));
}

function ours(d: Detection, net: string, addrs: readonly string[]): boolean {
  return d.client === net || addrs.includes(d.client) || addrs.includes(d.ip);
}

beforeAll(async () => {
  const brokers = kafkaBrokers();
  admin = new Kafka({ brokers, clientId: `${run}-admin`, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  stops.push(() => admin.disconnect());
  log = createKafkaEventLog({ brokers, clientId: run, logLevel: 'nothing' });
  stops.push(() => log.close());
  await log.ensureTopics(topicSpecs(MIN_PARTITIONS));
  // The broker is shared with the other files, which may have made the topics smaller first.
  const topics = [TOPICS.requests, TOPICS.enriched];
  const grow = (await admin.fetchTopicMetadata({ topics })).topics.filter((t) => t.partitions.length < MIN_PARTITIONS);
  if (grow.length) await admin.createPartitions({ topicPartitions: grow.map((t) => ({ topic: t.name, count: MIN_PARTITIONS })) });
  enrichedPartitions = (await admin.fetchTopicMetadata({ topics: [TOPICS.enriched] })).topics[0]!.partitions.length;

  const collect = async (topic: string, onMessage: (m: { partition: number; key: string | null; value: Buffer | null }) => void) => {
    const c = await log.consume({ groupId: uniqueName(`${run}-read`), topics: [topic], batchWaitMs: 0, handle: async (b) => b.messages.forEach((m) => onMessage({ ...m, partition: b.partition })) });
    stops.push(() => c.stop());
  };
  await collect(TOPICS.detections, (m) => void (m.value && detections.push(codecs.Detection.decode(m.value))));
  await collect(TOPICS.enriched, (m) => {
    if (m.value === null) return;
    const { request } = codecs.EnrichedRequest.decode(m.value);
    if (request.app === run) enriched.set(request.id, { partition: m.partition, key: m.key });
  });
  const testStart = Date.now();
  await collect(TOPICS.blocks, (m) => {
    if (m.value !== null && m.key !== null && codecs.BlockDecision.decode(m.value).createdAt >= testStart) blockTargets.add(m.key);
  });
  // Lift every block made while this file ran (ours, and any a fresh group re-judging the
  // shared topic's history made again), so no later file's blocksync inherits them.
  stops.push(async () => {
    if (blockTargets.size) await log.produce(TOPICS.blocks, [...blockTargets].map((t) => ({ key: t, value: null })));
  });

  const enricher: Enricher = createEnricher({ log, geo: await createGeoLookup({ cacheSize: 10_000 }), metrics: createMetrics('enricher'), groupId: uniqueName(`${run}-enricher`) });
  await enricher.start();
  stops.push(() => enricher.stop());

  // Two instances, each with a connection of its own, as two processes would have.
  groupId = uniqueName(`${run}-scorer`);
  await Promise.all([0, 1].map(async (n) => {
    const own = createKafkaEventLog({ brokers, clientId: `${run}-scorer-${n}`, logLevel: 'nothing' });
    stops.push(() => own.close());
    const scorer = createScorer({
      log: own,
      metrics: createMetrics('scorer'),
      warn: (m: string, err?: unknown) => void warnings.push(`scorer ${n}: ${m}${err ? `: ${(err as Error).message ?? String(err)}` : ''}`),
      warmupMs: 0,
      groupId,
      crawlerVerifier: createCrawlerVerifier({ servers: ['127.0.0.1:9'], timeoutMs: 200 }),
    });
    const consumer = await scorer.start();
    stops.push(() => scorer.stop());
    scorers.push({ scorer, consumer });
  }));
  await eventually('both scorer instances own enriched partitions', async () => (await assignment()) !== null, 60_000);
}, 120_000);

afterAll(async () => {
  for (const stop of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch {
      // keep closing the rest
    }
  }
});

test('a /64 rotating over 12 addresses is owned by one instance, counted whole and detected once', async () => {
  const net = plan.v6Net();
  const addrs = Array.from({ length: ADDRESSES }, (_, i) => net.addr(i + 1));
  // The client as the scorer counts it, and as the enricher now keys it.
  const engine = createDetectionEngine({ rules: [] });
  for (const a of addrs) assert.deepEqual([engine.clientOf({ ip: a, ipAnonymisation: 'off' }), scoringClient(a, 'off', 64)], [net.net, net.net]);
  // Keyed by address, these requests would spread over the partitions.
  const spread = new Set(addrs.map(partitionOf));
  assert.ok(spread.size >= 2, `the ${ADDRESSES} addresses' own keys fall on ${spread.size} partition(s) of ${enrichedPartitions}`);

  const events = traffic(addrs);
  assert.deepEqual(oracle(events), [`path-scan ${net.net}`], 'counted whole, the traffic crosses path-scan and nothing else');
  for (const half of [addrs.slice(0, ADDRESSES / 2), addrs.slice(ADDRESSES / 2)]) assert.deepEqual(oracle(events.filter((e) => half.includes(e.ip))), [], 'half of it crosses nothing');

  // One request after another, as the attacker sends them, keyed by address as the emitter
  // keys them. Each waits for the enricher: the addresses' requests sit on different request
  // partitions, and the scorer's windows expect the /64's requests in about their time order.
  for (const [i, e] of events.entries()) {
    await log.produce(TOPICS.requests, [{ key: e.ip, value: codecs.RequestEvent.encode(e) }]);
    // The first waits longer: a fresh enricher group first re-reads the shared topic's history.
    await eventually(`request ${e.id} enriched`, () => enriched.has(e.id), i === 0 ? 60_000 : 10_000);
  }
  await eventually('path-scan detects the /64', () => detections.some((d) => d.client === net.net && d.rule === 'path-scan'), 60_000);
  await eventually('both instances caught up', () => scorers.every((s) => s.consumer.status().lag === 0), 30_000);
  await sleep(1000);

  const keys = new Set(events.map((e) => enriched.get(e.id)!.key));
  const partitions = new Set(events.map((e) => enriched.get(e.id)!.partition));
  assert.deepEqual([...keys], [net.net], 'every event keyed by the /64');
  assert.deepEqual([...partitions], [partitionOf(net.net)], 'all on the /64\'s one partition');
  assert.equal(scorers.filter((s) => s.scorer.engine.table.has(net.net)).length, 1, 'one instance holds the /64');

  const found = detections.filter((d) => ours(d, net.net, addrs));
  assert.deepEqual(found.map((d) => [d.rule, d.client]), [['path-scan', net.net]], `exactly one detection, for the /64 (scorer warnings: ${warnings.join('; ') || 'none'})`);
  // The count is the window's estimate where it crossed (windows.ts): above the threshold,
  // which only the requests of several addresses together reach (two paths each).
  assert.ok(found[0]!.count > PATH_SCAN.threshold && found[0]!.count > 2 * (ADDRESSES / 2), `count ${found[0]!.count}`);
}, 150_000);

test('control: keyed by address, as before, the same traffic is split over both instances and never detected', async () => {
  const net = plan.v6Net();
  const owned = await assignment();
  assert.ok(owned, 'the group is stable with both instances');
  // Six addresses on partitions each instance owns: keyed by address, both see part of the /64.
  const candidates = Array.from({ length: 500 }, (_, i) => net.addr(i + 1));
  const addrs = owned.flatMap((parts) => candidates.filter((a) => parts.includes(partitionOf(a))).slice(0, ADDRESSES / 2));
  assert.equal(addrs.length, ADDRESSES);
  const events = traffic(addrs);
  assert.deepEqual(oracle(events), [`path-scan ${net.net}`], 'counted whole, it would be detected');
  for (const parts of owned) assert.deepEqual(oracle(events.filter((e) => parts.includes(partitionOf(e.ip)))), [], 'each instance\'s share crosses nothing');
  const geo: Geo = { country: '', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source: 'none' };
  const keyedByAddress: OutgoingMessage[] = events.map((request) => ({
    key: request.ip,
    value: codecs.EnrichedRequest.encode({ request, geo, enrichedAt: Date.now() }),
    headers: { [SCHEMA_HEADER]: 'EnrichedRequest' },
  }));
  // One at a time, so each instance reads its share in about its time order.
  for (const m of keyedByAddress) {
    await log.produce(TOPICS.enriched, [m]);
    await sleep(20);
  }
  await eventually('both instances hold part of the /64', () => scorers.every((s) => s.scorer.engine.table.has(net.net)), 30_000);
  await eventually('both instances caught up', () => scorers.every((s) => s.consumer.status().lag === 0), 30_000);
  await sleep(1500);
  assert.deepEqual(detections.filter((d) => ours(d, net.net, addrs)), [], `${PATHS} distinct paths, split: no instance crosses ${PATH_SCAN.threshold}`);
}, 120_000);
