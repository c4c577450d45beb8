/**
 * The scorer's smaller parts: the allowlist as it consults it, and its metrics (the engine's
 * and the crawler verifier's figures are read when scraped).
 */
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { cidrContains, parseCidr, parseIp, type ParsedCidr } from '@ipwatch/core/ip';
import type { DetectionEngine } from './engine/engine.ts';
import type { CrawlerVerifier } from './crawlers.ts';

/** The allowlist as the scorer needs it: does an entry in force cover this address? Small, so a scan is fine. */
export class Allowlist {
  private readonly entries = new Map<string, { cidr: ParsedCidr; expiresAt: number | null }>();
  apply(target: string, expiresAt: number | null | undefined): void {
    if (expiresAt === undefined) this.entries.delete(target);
    else this.entries.set(target, { cidr: parseCidr(target), expiresAt });
  }
  covers(ip: string, now: number): boolean {
    if (this.entries.size === 0) return false;
    const parsed = parseIp(ip);
    if (parsed === null) return false;
    for (const e of this.entries.values()) if ((e.expiresAt === null || e.expiresAt > now) && cidrContains(e.cidr, parsed)) return true;
    return false;
  }
}

/** Registers the scorer's metrics; returns the counters it increments itself. */
export function scorerMetrics(metrics: IpwatchMetrics, engine: DetectionEngine, verifier: CrawlerVerifier) {
  const detectionsTotal = metrics.counter<'rule' | 'severity' | 'mode' | 'action'>({
    name: 'ipwatch_scorer_detections_total',
    help: 'Detections published, by rule, severity, mode (live, dry_run) and action (alert, block, none). Unit: detections.',
    labelNames: ['rule', 'severity', 'mode', 'action'],
  });
  const suppressed = metrics.counter<'reason'>({
    name: 'ipwatch_scorer_suppressed_total',
    help: 'Detections not published: allowlisted, verified_crawler; or blocks not made because a longer one is in force (already_blocked). Unit: detections.',
    labelNames: ['reason'],
  });
  const skipped = metrics.counter<'reason'>({
    name: 'ipwatch_scorer_skipped_total',
    help: 'Requests not scored: withheld (their visitor opted out, so they carry no address to detect or block). Unit: requests.',
    labelNames: ['reason'],
  });
  metrics.gauge({ name: 'ipwatch_scorer_clients', help: 'Clients tracked in the sliding windows now. Unit: clients.', collect: (g) => g.set(engine.stats().clients) });
  metrics.gauge({ name: 'ipwatch_scorer_accounts', help: 'Usernames tracked by account rules (failed logins across clients) now. Unit: accounts.', collect: (g) => g.set(engine.stats().accounts) });
  metrics.gauge({ name: 'ipwatch_scorer_rules', help: 'Enabled rules the engine evaluates. Unit: rules.', collect: (g) => g.set(engine.stats().rules) });
  metrics.counter<'reason'>({
    name: 'ipwatch_scorer_evicted_total',
    help: 'Clients dropped from the windows: idle (nothing left to count) or full (IPWATCH_SCORER_MAX_CLIENTS reached: counts were lost). Unit: clients.',
    labelNames: ['reason'],
    collect: (totals) => {
      const s = engine.stats();
      totals.set({ reason: 'idle' }, s.evictedIdle);
      totals.set({ reason: 'full' }, s.evictedForCap);
    },
  });
  metrics.counter<'verdict'>({
    name: 'ipwatch_scorer_crawler_checks_total',
    help: 'Crawler claims checked by reverse and forward DNS, by verdict (verified, refused), and answered from the cache (cached). Unit: checks.',
    labelNames: ['verdict'],
    collect: (totals) => {
      const s = verifier.stats();
      totals.set({ verdict: 'verified' }, s.verified);
      totals.set({ verdict: 'refused' }, s.refused);
      totals.set({ verdict: 'cached' }, s.cacheHits);
    },
  });
  return { detectionsTotal, suppressed, skipped };
}
