/**
 * The scorer: every enriched request scored by the detection engine as it streams past;
 * each detection published on the detections topic (the sink stores it, the alerter tells
 * people), and a live blocking rule's detection published as a BlockDecision on the blocks
 * topic, which blocksync mirrors into every app within a second.
 *
 * - Rules come from the rule book (the compacted rules topic): a change applies to the engine
 *   at once, without a restart.
 * - The allowlist is honoured: an allowlisted client is never detected or blocked.
 * - Withheld requests (their visitor opted out: address `::`, nothing personal) are never
 *   scored: they name nobody to detect or block; they are counted, skipped.
 * - A rule exempting crawlers has a claimed crawler verified by DNS (crawlers.ts) before
 *   anything is published; only clients about to be detected are ever looked up. The check
 *   runs beside the stream, not in it: a slow DNS server delays that one detection, never
 *   the scoring of everyone else (a crash during a check loses the detection, and the
 *   client is detected again when it goes on, as its windows are rebuilt).
 * - Account rules count failed logins per username across clients. The scorer re-keys each
 *   failed login by its username onto the logins topic and consumes that topic too, so the
 *   instance owning an account's partition sees all of its failures, whichever instance
 *   scored the clients.
 * - A block in force that lasts longer (a manual block for good, say) is never shortened.
 * - On start, the recent detections are read back (so a restart never detects the same
 *   client for the same rule twice, and escalation remembers repeat offenders), and the last
 *   IPWATCH_SCORER_WARMUP_MINUTES of requests the group had already judged are re-read into
 *   the windows (so a restart does not forget an attack in progress); the consumer judges the
 *   rest from the group's committed offsets, as always.
 *
 * Instances share the work by consumer group: enriched requests are keyed by the client they
 * are scored as (the enricher keys an IPv6 address by its /64), and failed logins by username,
 * so each instance owns the clients and the accounts of its partitions.
 */
import type { EventLog, LogBatch, LogMessage, OutgoingMessage } from '@ipwatch/core/eventLog';
import { applyStep, decodeStep } from '@ipwatch/core/pipelineStep';
import { codecs, DecodeError, SCHEMA_HEADER, type BlockDecision } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { blockMessage, decodeListRecord } from '@ipwatch/core/decisions';
import { createRuleBook, type RuleBook } from '@ipwatch/core/ruleBook';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import type { CheckResult } from '@ipwatch/core/observability/health';
import type { CompactedReader, LogConsumer } from '@ipwatch/core/eventLog';
import { accountOf, describeAction, formatDuration } from '@ipwatch/core/rules';
import { isWithheld } from '@ipwatch/core/privacy';
import { createDetectionEngine, type Candidate, type DetectionEngine } from './engine/engine.ts';
import { backoffDelay, retryInPlace } from '@ipwatch/core/retry';
import { Allowlist, scorerMetrics } from './scorerParts.ts';
import { claimedCrawler, createCrawlerVerifier, KNOWN_CRAWLERS, type CrawlerVerifier, type KnownCrawler } from './crawlers.ts';

export const SCORER_GROUP = 'ipwatch-scorer';
/** How far back detections are read on start: the longest escalation memory of the default rules. */
const MEMORY_MS = 30 * 86_400_000;
const DETECTION_HEADERS = Object.freeze({ [SCHEMA_HEADER]: 'Detection' });
const LOGIN_HEADERS = Object.freeze({ [SCHEMA_HEADER]: 'EnrichedRequest' });

export interface ScorerOptions {
  log: EventLog;
  metrics: IpwatchMetrics;
  warn(message: string, err?: unknown): void;
  /** Requests re-read on start to rebuild the windows. Default 15 min; 0 = none. */
  warmupMs?: number;
  v6Prefix?: number;
  maxClients?: number;
  /** Verifies crawler claims; default: DNS as the system resolves. */
  crawlerVerifier?: CrawlerVerifier;
  groupId?: string;
  maxBatchSize?: number;
  now?: () => number;
}

export interface ScorerStatus {
  rulesLoaded: boolean;
  warmedUp: boolean;
  remembered: number;
  warmedRequests: number;
  detections: number;
  blocks: number;
  /** Crawler claims being checked by DNS now (their detections wait for the verdict). */
  checking: number;
}

export interface Scorer {
  start(): Promise<LogConsumer>;
  stop(): Promise<void>;
  readonly engine: DetectionEngine;
  status(): ScorerStatus;
  health(): CheckResult;
}

export function createScorer(options: ScorerOptions): Scorer {
  const { log, metrics, warn } = options;
  const now = options.now ?? Date.now;
  const engine = createDetectionEngine({
    rules: [],
    v6Prefix: options.v6Prefix ?? 64,
    maxClients: options.maxClients ?? 1_000_000,
    crawlerClaim: (ua) => claimedCrawler(ua)?.name ?? null,
  });
  const verifier = options.crawlerVerifier ?? createCrawlerVerifier();
  const allowlist = new Allowlist();
  /** Blocks in force by target: a rule's block never shortens a longer one. */
  const blocks = new Map<string, number | null>();
  const state: ScorerStatus = { rulesLoaded: false, warmedUp: false, remembered: 0, warmedRequests: 0, detections: 0, blocks: 0, checking: 0 };
  /** Crawler checks running beside the stream; stop() waits for them. */
  const checks = new Set<Promise<void>>();
  const stopping = new AbortController();
  let book: RuleBook | null = null;
  const readers: CompactedReader[] = [];
  let consumer: LogConsumer | undefined;

  const { detectionsTotal, suppressed, skipped } = scorerMetrics(metrics, engine, verifier);

  const decodeEnriched = (m: LogMessage) =>
    decodeStep('decode', () => {
      if (m.value === null) throw new DecodeError('empty value');
      return codecs.EnrichedRequest.decode(m.value);
    });

  interface Settled {
    detections: OutgoingMessage[];
    blocks: OutgoingMessage[];
  }

  /** A candidate cleared to publish: its detection, and the block of a live blocking rule unless a longer block is in force. */
  function decide(c: Candidate, out: Settled): void {
    const d = c.detection;
    const at = now();
    if (d.action === 'block') {
      const current = blocks.get(d.client);
      const longer = current !== undefined && (current === null || (d.blockExpiresAt !== null && current >= d.blockExpiresAt));
      if (longer && (current === null || current > at)) {
        suppressed.inc({ reason: 'already_blocked' });
        d.action = 'alert';
        d.evidence.alreadyBlocked = current === null ? 'a block for good is in force' : `a block until ${new Date(current).toISOString()} is in force`;
      } else {
        const rule = c.rule;
        const duration = d.blockExpiresAt === null ? 'for good' : `for ${formatDuration(d.blockExpiresAt - d.ts)}`;
        const decision: BlockDecision = {
          target: d.client,
          reason: `${rule.id}: ${d.evidence.summary ?? ''}; offence ${d.offence}, blocked ${duration} (detection ${d.id})`.slice(0, 500),
          source: rule.id,
          severity: d.severity,
          createdAt: at,
          // The block runs from now, not from the request's time (a replayed log's requests may be old).
          expiresAt: d.blockExpiresAt === null ? null : at + (d.blockExpiresAt - d.ts),
          createdBy: 'scorer',
        };
        d.blockExpiresAt = decision.expiresAt;
        blocks.set(d.client, decision.expiresAt);
        out.blocks.push(blockMessage(decision));
      }
    }
    d.evidence.action = d.action === 'none' ? describeAction(c.rule) : d.action === 'block' ? `blocked ${d.client}` : 'flagged';
    out.detections.push({ key: d.ip, value: codecs.Detection.encode(d), headers: DETECTION_HEADERS });
    detectionsTotal.inc({ rule: d.rule, severity: d.severity, mode: d.mode, action: d.action });
  }

  /** Blocks first: the block is what protects; the detection explains it. */
  async function publish(out: Settled): Promise<void> {
    if (out.blocks.length) {
      await log.produce(TOPICS.blocks, out.blocks);
      metrics.eventsOut.inc({ topic: TOPICS.blocks }, out.blocks.length);
      state.blocks += out.blocks.length;
    }
    if (out.detections.length) {
      await log.produce(TOPICS.detections, out.detections);
      metrics.eventsOut.inc({ topic: TOPICS.detections }, out.detections.length);
      state.detections += out.detections.length;
    }
  }

  /**
   * Checks a claimed crawler beside the stream, then publishes the detection unless the claim
   * holds. Publishing is retried until it succeeds or the scorer stops.
   */
  function checkCrawler(c: Candidate, ip: string, crawler: KnownCrawler): void {
    state.checking++;
    const check = (async () => {
      const verdict = await verifier.verify(ip, crawler);
      if (verdict.verified) {
        suppressed.inc({ reason: 'verified_crawler' });
        return;
      }
      c.detection.evidence.crawlerClaim = `claims ${crawler.name}, not verified: ${verdict.reason}`.slice(0, 400);
      const out: Settled = { detections: [], blocks: [] };
      decide(c, out);
      let failures = 0;
      await retryInPlace(() => publish(out), {
        signal: stopping.signal,
        onFailure: (err) => {
          metrics.errors.inc({ kind: 'score' });
          warn(`scorer: publishing the detection of ${ip} after its crawler check failed, retrying`, err);
          return ++failures;
        },
        delayMs: (n) => backoffDelay(n, 100, 5000),
      });
    })()
      .catch((err) => warn(`scorer: the crawler check of ${ip} failed`, err))
      .finally(() => {
        state.checking--;
        checks.delete(check);
      });
    checks.add(check);
  }

  /** Turns candidates into messages: allowlist, crawler verification (beside the stream), existing blocks. */
  function settle(found: readonly Candidate[], ip: string, out: Settled): void {
    for (const c of found) {
      if (allowlist.covers(ip, now())) {
        suppressed.inc({ reason: 'allowlisted' });
        continue;
      }
      const crawler = c.crawlerClaim === null ? undefined : KNOWN_CRAWLERS.find((k) => k.name === c.crawlerClaim);
      if (crawler) checkCrawler(c, ip, crawler);
      else decide(c, out);
    }
  }

  async function handle(batch: LogBatch): Promise<void> {
    metrics.eventsIn.inc({ topic: batch.topic }, batch.messages.length);
    const done = metrics.stageSeconds.startTimer({ stage: 'score' });
    const fromLogins = batch.topic === TOPICS.logins;
    const out: Settled = { detections: [], blocks: [] };
    const logins: OutgoingMessage[] = [];
    const reKey = !fromLogins && engine.hasAccountRules();
    for (const m of batch.messages) {
      const e = await applyStep(decodeEnriched(m), m, { log, metrics });
      if (e === undefined) continue;
      if (isWithheld(e.request)) {
        skipped.inc({ reason: 'withheld' });
        continue;
      }
      const r = e.request;
      // The logins topic holds failed logins keyed by username: the account rules are judged here.
      const found = fromLogins ? engine.observeLogin(r, e.geo) : engine.observe(r, e.geo);
      if (reKey && r.login === 'failed' && r.loginUser && !r.blocked) {
        logins.push({ key: accountOf(r.loginUser), value: m.value as Buffer, headers: LOGIN_HEADERS });
      }
      if (found.length) settle(found, r.ip, out);
    }
    await publish(out);
    if (logins.length) {
      await log.produce(TOPICS.logins, logins);
      metrics.eventsOut.inc({ topic: TOPICS.logins }, logins.length);
    }
    done();
  }

  async function rebuild(): Promise<void> {
    const at = now();
    // What was detected before: quiet periods and offences.
    const remembered = await log.readRange(TOPICS.detections, {
      sinceMs: Math.max(0, at - MEMORY_MS),
      onMessage: (m) => {
        if (m.value === null) return;
        try {
          engine.remember(codecs.Detection.decode(m.value));
          state.remembered++;
        } catch {
          // A record that does not decode was never ours to remember.
        }
      },
    });
    void remembered;
    if ((options.warmupMs ?? 15 * 60_000) <= 0) return;
    // Requests before the group's committed offsets were judged before: they only rebuild the
    // windows. Those after are the consumer's to judge, from where the group committed.
    const sinceMs = Math.max(0, at - (options.warmupMs ?? 15 * 60_000));
    for (const topic of [TOPICS.enriched, TOPICS.logins]) {
      const committed = await log.committedOffsets(options.groupId ?? SCORER_GROUP, topic);
      if (committed.size === 0) continue;
      await log.readRange(topic, {
        sinceMs,
        partitions: [...committed.keys()],
        onMessage: (m) => {
          if (m.value === null) return;
          const judgedBefore = committed.get(m.partition);
          if (judgedBefore === undefined || BigInt(m.offset) >= judgedBefore) return;
          try {
            const request = codecs.EnrichedRequest.decode(m.value).request;
            if (isWithheld(request)) return;
            if (topic === TOPICS.logins) engine.warmLogin(request);
            else engine.warm(request);
            state.warmedRequests++;
          } catch {
            // Poison is the live consumer's to send to the DLQ.
          }
        },
      });
    }
  }

  return {
    engine,
    async start() {
      book = createRuleBook({ log, metrics, warn, onChange: (rules) => engine.setRules(rules) });
      await book.ready;
      engine.setRules(book.rules());
      state.rulesLoaded = true;
      readers.push(
        await log.readCompacted(TOPICS.allowlist, {
          onMessage: (m) => {
            try {
              const u = decodeListRecord('allow', m);
              allowlist.apply(u.target, u.entry === null ? undefined : u.entry.expiresAt);
            } catch (err) {
              warn('scorer: an allowlist record cannot be read; blocksync sends it to the DLQ', err);
            }
          },
        }),
      );
      readers.push(
        await log.readCompacted(TOPICS.blocks, {
          onMessage: (m) => {
            try {
              const u = decodeListRecord('blocks', m);
              if (u.entry === null) blocks.delete(u.target);
              else blocks.set(u.target, u.entry.expiresAt);
            } catch {
              // blocksync sends it to the DLQ.
            }
          },
        }),
      );
      await Promise.all(readers.map((r) => r.ready));
      await rebuild();
      state.warmedUp = true;
      consumer = await log.consume({
        groupId: options.groupId ?? SCORER_GROUP,
        topics: [TOPICS.enriched, TOPICS.logins],
        maxBatchSize: options.maxBatchSize ?? 2000,
        concurrency: 1,
        batchWaitMs: 0,
        handle,
        onError: (err) => {
          metrics.errors.inc({ kind: 'score' });
          warn('scorer: batch failed, retrying', err);
        },
      });
      return consumer;
    },
    async stop() {
      await consumer?.stop();
      // Checks under way finish (DNS answers within its timeout); a publish still failing gives up.
      const pending = [...checks];
      const giveUp = setTimeout(() => stopping.abort(), 5000);
      await Promise.allSettled(pending);
      clearTimeout(giveUp);
      stopping.abort();
      await Promise.all(readers.map((r) => r.stop()));
      await book?.stop();
    },
    status: () => ({ ...state }),
    health() {
      const s = engine.stats();
      if (!state.rulesLoaded) return { state: 'degraded', detail: 'reading the rules topic' };
      if (!state.warmedUp) return { state: 'degraded', detail: 'rebuilding the windows from recent requests' };
      const checking = state.checking > 0 ? `; ${state.checking} crawler claims being checked` : '';
      const full = s.evictedForCap > 0 ? `; ${s.evictedForCap} clients evicted early because the table was full (IPWATCH_SCORER_MAX_CLIENTS)` : '';
      return { state: 'ok', detail: `${s.rules} rules, ${s.clients} clients tracked, ${state.detections} detections and ${state.blocks} blocks published${checking}${full}` };
    },
  };
}
