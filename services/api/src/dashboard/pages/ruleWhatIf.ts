/**
 * "Would have caught": one rule, as edited, run over the last day of stored requests through
 * the scorer's own engine (detectHistory, as `ipwatch detect --rule ID --dry-run` does).
 * Nothing is recorded and nobody is blocked. It reads every request of the day, so at
 * production volume it takes seconds: the rules page runs it only when asked (a button).
 */
import type { Rule } from '@ipwatch/core/schemas';
import type { AnalyticsStore } from '@ipwatch/store';
import { detectHistory } from '@ipwatch/scorer';

const DAY = 86_400_000;
/** Clients listed on the page (all are counted). */
const MAX_CLIENTS = 50;

export interface WhatIf {
  sinceMs: number;
  untilMs: number;
  requests: number;
  detections: number;
  /** Distinct clients (an address, or an IPv6 /64) the rule would have caught. */
  clients: number;
  /** The clients caught most often first, at most 50. */
  top: Array<{ client: string; detections: number }>;
  elapsedMs: number;
}

/**
 * @example
 * const w = await ruleWhatIf(analytics, { ...rule, threshold: 10 }, Date.now());
 * `${w.clients} clients, ${w.detections} detections over ${w.requests} requests`
 */
export async function ruleWhatIf(store: Pick<AnalyticsStore, 'scanRequests'>, rule: Rule, now: number): Promise<WhatIf> {
  const started = performance.now();
  const byClient = new Map<string, number>();
  const sinceMs = now - DAY;
  const untilMs = now + 1;
  // Evaluated even when disabled or in dry run: the question is what it would find.
  const result = await detectHistory({
    store,
    rules: [{ ...rule, enabled: true }],
    sinceMs,
    untilMs,
    onDetection: (d) => void byClient.set(d.client, (byClient.get(d.client) ?? 0) + 1),
  });
  const top = [...byClient].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_CLIENTS).map(([client, detections]) => ({ client, detections }));
  return { sinceMs, untilMs, requests: result.requests, detections: result.detections, clients: byClient.size, top, elapsedMs: Math.round(performance.now() - started) };
}
