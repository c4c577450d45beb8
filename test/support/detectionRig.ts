/**
 * The app under attack and the distributed pipeline behind it, on real components, for the
 * detection tests: an Express app with the emitter (a trusted proxy on loopback;
 * X-Forwarded-For picks the client) -> Kafka -> enricher -> scorer -> blocks topic ->
 * blocksync -> a redis-server of the test's own -> the app's block mirror. The requests sent
 * to it are in attackTraffic.ts.
 *
 * @example
 * const rig = await startDetectionRig({ dns: { ptr: {...}, a: {...} } });
 * await scan(rig.port, '100.80.1.1', ['/.env', '/.git/config']);
 * const d = await rig.detection((d) => d.client === '100.80.1.1' && d.rule === 'sensitive-files');
 * await rig.refused('100.80.1.1');          // the app answers 403 within a few seconds
 * await rig.close();
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import type { EventLog, LogConsumer, LogMessage } from '@ipwatch/core/eventLog';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import { createMetrics, type IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createHealth } from '@ipwatch/core/observability/health';
import type { ServiceContext } from '@ipwatch/core/service';
import { codecs, type BlockDecision, type Detection, type EnrichedRequest } from '@ipwatch/core/schemas';
import { defaultRule, ruleMessage, ruleRemoval, type Rule } from '@ipwatch/core/rules';
import { ipwatch, createBlockMirror, type BlockMirror } from '@ipwatch/emitter';
import { createBlocksync, type Blocksync } from '@ipwatch/blocksync';
import { createEnricher, createGeoLookup, type Enricher } from '@ipwatch/enricher';
import { createCrawlerVerifier, startScorerService, type ScorerService } from '@ipwatch/scorer';
import { kafkaBrokers, uniqueName } from './components.ts';
import { startRedisServer, type TestRedis } from './redisServer.ts';
import { startDnsServer, type DnsTable, type TestDnsServer } from './dnsServer.ts';
import { tempDir } from './cli.ts';
import { eventually, hit } from './attackTraffic.ts';

// ---------------------------------------------------------------------------------------
// The app

export interface TargetApp {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The protected app: a small site (pages, assets, a feed, a login answering 401, an endpoint
 * that fails) behind the emitter with login reporting and the block mirror.
 */
export async function startTargetApp(log: EventLog, mirror: BlockMirror, name: string): Promise<TargetApp> {
  const tracker = ipwatch({
    log,
    app: name,
    trustedProxies: ['127.0.0.1', '::1'],
    blockMirror: mirror,
    login: { paths: ['/login'] },
    bufferOptions: { flushIntervalMs: 10 },
  });
  const app = express();
  app.use(tracker);
  app.use(express.json({ limit: '4kb' }));
  const page = (title: string) => `<!doctype html><title>${title}</title><link rel=stylesheet href=/static/site.css><p>${title}</p>`;
  app.get('/', (_req, res) => void res.send(page('home')));
  app.get('/article/:n', (_req, res) => void res.send(page('an article')));
  app.get('/gallery/:n', (_req, res) => void res.send(page('a gallery')));
  app.get(['/static/:file', '/img/:file', '/favicon.ico'], (_req, res) => void res.type('application/octet-stream').send(Buffer.alloc(64)));
  app.get('/feed.xml', (_req, res) => void res.type('application/rss+xml').send('<rss version="2.0"><channel><title>t</title></channel></rss>'));
  app.get('/broken', (_req, res) => void res.status(500).send('database unavailable'));
  app.post('/login', (req, res) => {
    const ok = (req.body as { password?: unknown } | undefined)?.password === 'correct horse battery staple';
    res.status(ok ? 200 : 401).json(ok ? { ok: true } : { error: 'wrong username or password' });
  });
  app.use((_req, res) => void res.status(404).send('not found'));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      server.close();
      await tracker.close(2000);
    },
  };
}

// ---------------------------------------------------------------------------------------
// The pipeline

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every message of a topic from its beginning, decoded, as it arrives. */
export interface Collected<T> {
  readonly items: T[];
  /** Waits until an item matches; the first one that does. */
  find(what: string, match: (item: T) => boolean, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

async function collect<T>(log: EventLog, topic: string, decode: (m: LogMessage) => T | null): Promise<Collected<T>> {
  const items: T[] = [];
  const consumer: LogConsumer = await log.consume({
    groupId: uniqueName(`e2e-${topic}`),
    topics: [topic],
    batchWaitMs: 0,
    handle: async (b) => {
      for (const m of b.messages) {
        const v = decode(m);
        if (v !== null) items.push(v);
      }
    },
  });
  return {
    items,
    async find(what, match, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = items.find(match);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`${what}: not seen on ${topic} within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    stop: () => consumer.stop(),
  };
}


export interface DlqRecord {
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface DetectionRig {
  readonly port: number;
  readonly log: EventLog;
  readonly dns: TestDnsServer;
  readonly scorer: () => ScorerService;
  readonly scorerMetrics: () => IpwatchMetrics;
  readonly detections: Collected<Detection>;
  readonly blocks: Collected<BlockDecision & { key: string }>;
  readonly enriched: Collected<EnrichedRequest['request']>;
  readonly dlq: Collected<DlqRecord>;
  readonly warnings: string[];
  /** The first detection that matches, waiting for it. */
  detection(match: (d: Detection) => boolean, timeoutMs?: number): Promise<Detection>;
  /** The app answers 403 to this client (waiting for the block to reach the mirror). */
  refused(ip: string, timeoutMs?: number): Promise<void>;
  /** The client's status for a page now. */
  status(ip: string, path?: string): Promise<number>;
  /** Sets a rule on the rules topic and waits until the running scorer evaluates it as written; the ms it took. */
  setRule(rule: Rule): Promise<number>;
  /** Tombstones rules (defaults come back) and waits until the scorer has them as shipped. */
  resetRules(...ids: string[]): Promise<void>;
  stopScorer(): Promise<void>;
  startScorer(): Promise<ScorerService>;
  close(): Promise<void>;
}

export interface DetectionRigOptions {
  /** What the loopback DNS server answers (crawler verification). */
  dns?: DnsTable;
  /** Minutes of requests a starting scorer re-reads (IPWATCH_SCORER_WARMUP_MINUTES). Default 15. */
  warmupMinutes?: number;
}

/** Starts the whole distributed pipeline and the app on it; close() stops it all. */
export async function startDetectionRig(options: DetectionRigOptions = {}): Promise<DetectionRig> {
  const name = uniqueName('detection');
  const warnings: string[] = [];
  const warn = (m: string, err?: unknown) => void warnings.push(err ? `${m}: ${(err as Error)?.message ?? String(err)}` : m);
  const stops: Array<() => unknown> = [];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // keep closing the rest
      }
    }
  };
  try {
    const brokers = kafkaBrokers();
    const redis: TestRedis = await startRedisServer();
    stops.push(() => redis.close());
    const log = createKafkaEventLog({ brokers, clientId: name, logLevel: 'nothing' });
    stops.push(() => log.close());
    await log.ensureTopics(topicSpecs(2));

    const dns = await startDnsServer(options.dns ?? {});
    stops.push(() => dns.close());

    const syncLists: SharedLists = createRedisSharedLists(redis.url, { name: `${name}-blocksync` });
    stops.push(() => syncLists.close());
    const sync: Blocksync = createBlocksync({ log, lists: syncLists, metrics: createMetrics('blocksync'), warn, retryMs: 50 });
    stops.push(() => sync.stop());
    await sync.ready;

    const appLists: SharedLists = createRedisSharedLists(redis.url, { name: `${name}-app` });
    stops.push(() => appLists.close());
    const mirror = createBlockMirror({ lists: appLists, onWarn: warn });
    stops.push(() => mirror.close());
    await mirror.ready;
    const app = await startTargetApp(log, mirror, name);
    stops.push(() => app.close());

    const enricher: Enricher = createEnricher({ log, geo: await createGeoLookup({ cacheSize: 10_000 }), metrics: createMetrics('enricher'), groupId: uniqueName('e2e-enricher') });
    await enricher.start();
    stops.push(() => enricher.stop());

    const detections = await collect(log, TOPICS.detections, (m) => (m.value === null ? null : codecs.Detection.decode(m.value)));
    const blocks = await collect(log, TOPICS.blocks, (m) => (m.value === null || m.key === null ? null : { ...codecs.BlockDecision.decode(m.value), key: m.key }));
    // The broker is shared with the other Kafka test files: lift every block made here on the
    // way out, so no later file's blocksync inherits them.
    stops.push(async () => {
      const targets = [...new Set(blocks.items.map((b) => b.key))];
      if (targets.length) await log.produce(TOPICS.blocks, targets.map((t) => ({ key: t, value: null })));
    });
    const enriched = await collect(log, TOPICS.enriched, (m) => (m.value === null ? null : codecs.EnrichedRequest.decode(m.value).request));
    const dlq = await collect(log, TOPICS.dlq, (m) => ({ key: m.key, value: m.value, headers: m.headers }));
    stops.push(() => Promise.all([detections, blocks, enriched, dlq].map((c) => c.stop())));

    const config = loadConfig(
      { IPWATCH_KAFKA_BROKERS: brokers.join(','), IPWATCH_REDIS_URL: redis.url, IPWATCH_SCORER_WARMUP_MINUTES: String(options.warmupMinutes ?? 15) },
      tempDir('ipwatch-detection'),
    );
    const ctx: ServiceContext = { config, log, health: createHealth(), metrics: (s) => createMetrics(s), warn };
    const crawlerVerifier = createCrawlerVerifier({ servers: [dns.address], timeoutMs: 1000 });
    const groupId = uniqueName('e2e-scorer');
    let scorer: ScorerService | null = null;
    let metrics: IpwatchMetrics = createMetrics('scorer');
    const startScorer = async () => {
      metrics = createMetrics('scorer');
      scorer = await startScorerService(ctx, metrics, { crawlerVerifier, groupId });
      return scorer;
    };
    const stopScorer = async () => {
      const s = scorer;
      scorer = null;
      await s?.stop();
    };
    await startScorer();
    stops.push(stopScorer);

    const running = () => {
      if (scorer === null) throw new Error('the scorer is stopped');
      return scorer;
    };
    const status = (ip: string, path = '/article/1') => hit(app.port, path, { ip });
    /** The scorer evaluates `rule` as written (or, when disabled, not at all). */
    const shape = (r: Rule) =>
      JSON.stringify([r.kind, r.mode, r.threshold, r.windowMs, r.severity, r.autoBlock, r.blockForMs, r.escalation, r.quietMs, r.updatedAt, Object.entries(r.params).sort()]);
    const evaluates = (rule: Rule) => {
      const live = running().scorer.engine.rules().find((r) => r.id === rule.id);
      return rule.enabled ? live !== undefined && shape(live) === shape(rule) : live === undefined;
    };
    return {
      port: app.port,
      log,
      dns,
      scorer: running,
      scorerMetrics: () => metrics,
      detections,
      blocks,
      enriched,
      dlq,
      warnings,
      detection: (match, timeoutMs) => detections.find('a detection', match, timeoutMs),
      async refused(ip, timeoutMs = 5000) {
        await eventually(`the app refuses ${ip}`, async () => (await status(ip)) === 403, timeoutMs);
      },
      status,
      async setRule(rule) {
        const t0 = Date.now();
        await log.produce(TOPICS.rules, [ruleMessage(rule)]);
        await eventually(`the scorer evaluates rule ${rule.id} as set`, () => evaluates(rule), 5000);
        return Date.now() - t0;
      },
      async resetRules(...ids) {
        await log.produce(TOPICS.rules, ids.map((id) => ruleRemoval(id, 'detection-test')));
        if (scorer === null) return;
        await eventually(`the scorer has ${ids.join(', ')} as shipped`, () => ids.every((id) => {
          const shipped = defaultRule(id);
          return shipped ? evaluates(shipped) : !running().scorer.engine.rules().some((r) => r.id === id);
        }), 5000);
      },
      stopScorer,
      startScorer,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A rule as shipped, changed: what `ipwatch rules set` would write. */
export function changedRule(id: string, change: Partial<Rule>): Rule {
  const shipped = defaultRule(id);
  if (!shipped) throw new Error(`no default rule ${id}`);
  return { ...shipped, ...change, params: { ...shipped.params, ...change.params }, updatedAt: Date.now(), updatedBy: 'detection-test' };
}
