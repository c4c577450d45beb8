/**
 * "Would have caught": one rule, as edited, run over the last day of stored requests through
 * the scorer's own engine (detectHistory, as `ipwatch detect --rule ID --dry-run` does).
 * Nothing is recorded and nobody is blocked. It reads every request of the day: about 12 s
 * for 670,000 requests a day on 2 cores, so minutes at 10 million rows. The rules page
 * therefore runs it only when asked (a button), in the background, one at a time, and shows
 * the answer when it is there (the page reloads itself until then); answers are kept a while.
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

/** What the page shows for a what-if asked for: still running, its answer, or why it failed. */
export type WhatIfState =
  | { state: 'running'; startedAt: number }
  | { state: 'done'; answer: WhatIf }
  | { state: 'failed'; message: string }
  /** Another rule's what-if is running: one at a time. */
  | { state: 'busy' };

export interface WhatIfRunner {
  /** The what-if of this rule as it is given: a known answer (kept 10 minutes), the one running, or a new one started. */
  ask(rule: Rule): WhatIfState;
}

const KEEP_MS = 10 * 60_000;
const KEEP_ANSWERS = 20;

/**
 * @example
 * const whatIfs = createWhatIfRunner({ store: analytics, now: Date.now, warn });
 * const s = whatIfs.ask(editedRule); // { state: 'running', ... } until { state: 'done', answer }
 */
export function createWhatIfRunner(options: { store: Pick<AnalyticsStore, 'scanRequests'>; now: () => number; warn(message: string, err?: unknown): void }): WhatIfRunner {
  const known = new Map<string, { at: number; state: Exclude<WhatIfState, { state: 'busy' }> }>();
  let running: string | null = null;
  // The same rule as edited is the same question, whoever saved it last and when.
  const keyOf = (rule: Rule) => JSON.stringify({ ...rule, updatedAt: 0, updatedBy: '' });
  return {
    ask(rule) {
      const key = keyOf(rule);
      const t = options.now();
      for (const [k, v] of known) if (v.state.state !== 'running' && t - v.at > KEEP_MS) known.delete(k);
      const have = known.get(key);
      if (have) return have.state;
      if (running !== null) return { state: 'busy' };
      running = key;
      known.set(key, { at: t, state: { state: 'running', startedAt: t } });
      while (known.size > KEEP_ANSWERS) known.delete(known.keys().next().value as string);
      ruleWhatIf(options.store, rule, t).then(
        (answer) => void known.set(key, { at: options.now(), state: { state: 'done', answer } }),
        (err: unknown) => {
          options.warn(`dashboard: the what-if of rule ${rule.id} failed`, err);
          known.set(key, { at: options.now(), state: { state: 'failed', message: 'The what-if failed (the api\'s log has the cause); try again.' } });
        },
      ).finally(() => {
        running = null;
      });
      return { state: 'running', startedAt: t };
    },
  };
}
