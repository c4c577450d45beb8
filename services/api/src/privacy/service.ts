/**
 * The privacy operations as the api, the CLI (through the api) and the dashboard run them: a
 * subject parsed with the configured guard, exported or erased from the store and from what
 * Redis and this process's caches hold, and an honest list of what stays and until when.
 */
import type { IpwatchConfig } from '@ipwatch/core/config';
import { parseSubject, registeredPersonalState, subjectCovers, type PersonalStateHolder, type PrivacySubject, type Remaining, type SubjectInput } from '@ipwatch/core/dataSubject';
import { createRedisClient, type Redis } from '@ipwatch/core/redis';
import type { AnalyticsStore, AuditEntry, EraseStep, ErasureReport, ListAuditQuery, PrivacyExport, PrivacyPreview } from '@ipwatch/store';
import type { ListsView } from '../listsView.ts';
import { redisAlertLedgerHolder, redisRateLimitHolder } from './redisHolders.ts';

export interface PrivacyRequest extends SubjectInput {
  /** Take a range wider than IPWATCH_ERASE_MAX_PREFIX_V4/_V6. */
  force?: boolean;
}

export interface PrivacyService {
  export(request: PrivacyRequest, actor: string): Promise<PrivacyExport>;
  /** What an erasure would find, counted only and not recorded (the dashboard's confirmation). */
  preview(request: PrivacyRequest): Promise<PrivacyPreview>;
  erase(request: PrivacyRequest, actor: string, test?: { crashAfter?: EraseStep }): Promise<ErasureReport>;
  audit(query?: ListAuditQuery): Promise<AuditEntry[]>;
  pending(): ReturnType<AnalyticsStore['pendingErasures']>;
  close(): Promise<void>;
}

export interface PrivacyServiceOptions {
  analytics: AnalyticsStore;
  config: Pick<IpwatchConfig, 'privacy' | 'retention' | 'geo' | 'redis' | 'kafka' | 'alerts'>;
  /** The block list and allowlist in force (absent: not reported). */
  view?: ListsView;
  /** What else holds data about people; default: Redis's (when configured) and this process's registered ones. */
  holders?: PersonalStateHolder[];
  now?: () => number;
}

const H = 3_600_000;

/** The scorer's longest window among the default rules (requests per hour). */
const SCORER_WINDOW_MS = H;
/** The default rules' escalation memory (shared/core/src/rules.ts). */
const ESCALATION_MEMORY_MS = 30 * 24 * H;
/** The longest window of the emitter's default limits (login: 3 per 5 minutes). */
const RATE_LIMIT_WINDOW_MS = 5 * 60_000;

export function createPrivacyService(options: PrivacyServiceOptions): PrivacyService {
  const { analytics, config, view } = options;
  const now = options.now ?? Date.now;
  let redis: Redis | null = null;
  const holders = (): PersonalStateHolder[] => {
    if (options.holders) return options.holders;
    const own = registeredPersonalState();
    if (!config.redis) return own;
    redis ??= createRedisClient(config.redis.url, { name: 'ipwatch-privacy', commandTimeoutMs: 5000 });
    return [redisRateLimitHolder(redis), redisAlertLedgerHolder(redis), ...own];
  };
  const subjectOf = (r: PrivacyRequest): PrivacySubject =>
    parseSubject({ ...(r.ip !== undefined && { ip: r.ip }), ...(r.user !== undefined && { user: r.user }) }, { maxPrefixV4: config.privacy.eraseMaxPrefixV4, maxPrefixV6: config.privacy.eraseMaxPrefixV6 }, r.force === true);

  /** What an erasure cannot remove now: said with when it goes by itself, or what to do. */
  function remaining(subject: PrivacySubject): Remaining[] {
    const t = now();
    const out: Remaining[] = [
      {
        place: config.kafka ? 'Kafka topics (raw and enriched requests, rate-limit events, detections)' : 'the in-process event log (requests, rate-limit events, detections)',
        what: 'events published before now; the pipeline has stored them already and does not read them again',
        // Kafka deletes a whole segment once its newest event has passed the retention, and a segment spans at most a day (topics.ts).
        until: t + config.retention.topicHours * H + (config.kafka ? Math.min(config.retention.topicHours * H, 24 * H) : 0),
        action: 'they age out with the topics\' retention (IPWATCH_TOPIC_RETENTION_HOURS)',
      },
      {
        place: 'the scorer\'s memory',
        what: 'the sliding windows counting this client\'s recent requests, and its offences (which make a repeat block longer)',
        until: t + ESCALATION_MEMORY_MS,
        action: `the windows end within ${SCORER_WINDOW_MS / H} hour of its last request; the offences after the rules' escalation memory (30 days by default)`,
      },
    ];
    if (!config.redis) {
      out.push({ place: 'the apps\' own memory (no Redis configured)', what: 'rate-limit counters of this client', until: t + RATE_LIMIT_WINDOW_MS, action: 'they end with their window (5 minutes for the default limits)' });
    }
    if (config.kafka) {
      out.push({ place: 'the enrichers\' geolocation caches', what: 'the location looked up for the address', until: t + config.geo.cacheTtlMs, action: 'each entry expires after IPWATCH_GEO_CACHE_TTL_SECONDS' });
    }
    if (config.alerts.email || config.alerts.webhook || config.alerts.slack) {
      out.push({ place: 'alert recipients', what: 'alerts already delivered about this client (emails, webhook and Slack messages)', until: null, action: 'outside ipwatch: ask the recipients to delete them' });
    }
    if (view && subject.kind !== 'user') {
      for (const list of ['blocks', 'allow'] as const) {
        for (const r of view.all(list)) {
          if (r.expiresAt !== null && r.expiresAt <= t) continue;
          if (!subjectCovers(subject, r.target) && !(r.target.includes('/') && subjectCovers(subject, r.target.split('/')[0]!))) continue;
          out.push(
            list === 'blocks'
              ? { place: 'the block list', what: `the block of ${r.target} (${r.reason || 'no reason given'}), in force`, until: r.expiresAt, action: `kept under your legitimate interest in defending the site; lift it with \`ipwatch unblock ${r.target}\` if it is no longer needed`, entry: { list, target: r.target } }
              : { place: 'the allowlist', what: `the allowlist entry of ${r.target} (${r.reason || 'no reason given'})`, until: r.expiresAt, action: `remove it with \`ipwatch allow --remove ${r.target}\` if it is no longer needed`, entry: { list, target: r.target } },
          );
        }
      }
    }
    return out;
  }

  return {
    async export(request, actor) {
      return analytics.exportSubject(subjectOf(request), { actor, holders: holders(), now: now() });
    },
    async preview(request) {
      return analytics.previewSubject(subjectOf(request), holders());
    },
    async erase(request, actor, test) {
      const subject = subjectOf(request);
      return analytics.eraseSubject(subject, { actor, holders: holders(), remaining: remaining(subject), now: now(), ...(test?.crashAfter && { crashAfter: test.crashAfter }) });
    },
    audit: (query) => analytics.listAudit(query),
    pending: () => analytics.pendingErasures(),
    async close() {
      redis?.disconnect();
    },
  };
}
