/**
 * Detection over stored history (`ipwatch detect`): the requests of a time range, oldest
 * first, through the same engine the live scorer runs, so a backfill finds what the stream
 * would have found, and a what-if shows what a rule would find before it is enabled. Nothing
 * here blocks: history is for the record and for tuning; blocks are for live traffic. Withheld
 * requests (their visitor opted out: address ::) are skipped, as the live scorer skips them.
 */
import type { Detection, Rule } from '@ipwatch/core/schemas';
import type { AnalyticsStore } from '@ipwatch/store';
import { isWithheld } from '@ipwatch/core/privacy';
import { createDetectionEngine } from './engine/engine.ts';

export interface HistoryDetectOptions {
  store: Pick<AnalyticsStore, 'scanRequests'>;
  rules: readonly Rule[];
  sinceMs: number;
  untilMs: number;
  v6Prefix?: number;
  onDetection(d: Detection): void | Promise<void>;
}

export interface HistoryDetectResult {
  requests: number;
  /** Of `requests`, those withheld (opted out): never judged. */
  withheld: number;
  detections: number;
  byRule: Record<string, number>;
}

export async function detectHistory(options: HistoryDetectOptions): Promise<HistoryDetectResult> {
  const engine = createDetectionEngine({ rules: options.rules, v6Prefix: options.v6Prefix ?? 64 });
  const byRule: Record<string, number> = {};
  let detections = 0;
  let withheld = 0;
  const requests = await options.store.scanRequests({ sinceMs: options.sinceMs, untilMs: options.untilMs }, async (rows) => {
    for (const r of rows) {
      if (isWithheld(r)) {
        withheld++;
        continue;
      }
      // One process sees every client and every account: the account rules read the same rows.
      for (const c of [...engine.observe(r, r), ...engine.observeLogin(r, r)]) {
        detections++;
        byRule[c.detection.rule] = (byRule[c.detection.rule] ?? 0) + 1;
        await options.onDetection(c.detection);
      }
    }
  });
  return { requests, withheld, detections, byRule };
}
