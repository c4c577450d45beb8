import { loadConfig } from '@ipwatch/core/config';
import { codecs, SCHEMA_HEADER, type Detection, type Rule } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { IpwatchError } from '@ipwatch/core/errors';
import { createRuleBook } from '@ipwatch/core/ruleBook';
import { createStops } from '@ipwatch/core/serviceProcess';
import { openAnalytics, parseTimeBound, type AnalyticsStore } from '@ipwatch/store';
import { detectHistory } from '@ipwatch/scorer';
import type { OutgoingMessage } from '@ipwatch/core/eventLog';
import { apiGet } from '../apiClient.ts';
import { createContext } from '../context.ts';
import { startLocalPipeline } from '../pipeline.ts';
import { out, info, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch detect [--since 24h] [--until TIME] [--rule ID] [--dry-run] [--json]
  Runs the detection rules over the requests stored in ClickHouse, oldest first, through the
  same engine the live scorer runs: a backfill after enabling a rule, or a what-if before.
  --since, --until  the range (default: the last 24 hours), as \`ipwatch logs\` takes them
  --rule ID         only this rule, evaluated even if it is disabled or in dry run
  --dry-run         print what would be detected; record nothing
  Without --dry-run, the detections found are recorded (detections topic, then ClickHouse)
  unless the same detection is stored already (the live scorer found it: same id). Nothing
  found over history blocks anyone: a detection whose rule blocks is recorded as flagged.
  Embedded, stop \`npm start\` first (one process owns the store). The last line is JSON:
  {"requests","detections","recorded","byRule"}.`;

const options = {
  since: { type: 'string' }, until: { type: 'string' }, rule: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgsOnce(argv, options);
  const now = Date.now();
  const sinceMs = parseTimeBound(values.since ?? '24h', now, '--since');
  const untilMs = values.until === undefined ? now + 1 : parseTimeBound(values.until, now, '--until');
  if (untilMs <= sinceMs) throw new UsageError('--until must be later than --since');
  const dryRun = values['dry-run'] === true;
  const config = loadConfig();
  const ctx = createContext(config);
  const embedded = config.clickhouse === null;
  const stops = createStops(ctx.warn);
  stops.add('the event log', () => ctx.log.close());
  try {
    if (embedded && (await apiGet(config, '/api/v1/status').then(() => true, () => false))) {
      throw new UsageError('an ipwatch process (npm start?) is serving the api and owns the embedded store: stop it, then run detect');
    }
    const book = createRuleBook({ log: ctx.log, warn: ctx.warn, deadLetters: false });
    stops.add('the rule book', () => book.stop());
    await book.ready;
    let rules: Rule[] = book.rules().filter((r) => r.enabled);
    if (values.rule !== undefined) {
      const one = book.get(values.rule);
      if (!one) throw new IpwatchError('IPWATCH_NO_SUCH_RULE', `no rule ${JSON.stringify(values.rule)}: \`ipwatch rules list\` shows the ids`);
      rules = [{ ...one, enabled: true }];
    }
    // Embedded and recording: the sink of a local pipeline stores what is produced.
    let store: AnalyticsStore;
    if (embedded && !dryRun) {
      const pipeline = await startLocalPipeline(ctx);
      stops.add('the pipeline', () => pipeline.stop());
      store = pipeline.analytics;
    } else {
      const opened = await openAnalytics(config);
      stops.add('the store', () => opened.close());
      store = opened;
    }
    const known = dryRun ? new Set<string>() : await store.storedDetectionIds(sinceMs - 7 * 86_400_000);
    const found: Detection[] = [];
    const result = await detectHistory({
      store,
      rules,
      sinceMs,
      untilMs,
      v6Prefix: config.scorer.v6Prefix,
      onDetection: (d) => {
        found.push(d);
      },
    });
    const fresh = found.filter((d) => !known.has(d.id));
    if (!dryRun && fresh.length) {
      const messages: OutgoingMessage[] = fresh.map((d) => {
        const recorded: Detection = { ...d, evidence: { ...d.evidence }, action: d.action === 'block' ? 'alert' : d.action, blockExpiresAt: null };
        recorded.evidence.action = d.action === 'block' ? 'found over history by ipwatch detect: flagged (the rule blocks, but history blocks no one)' : 'found over history by ipwatch detect';
        return { key: d.ip, value: codecs.Detection.encode(recorded), headers: { [SCHEMA_HEADER]: 'Detection' } };
      });
      await ctx.log.produce(TOPICS.detections, messages);
      if (embedded) {
        const ids = new Set(fresh.map((d) => d.id));
        const deadline = Date.now() + 60_000;
        let stored = 0;
        while (Date.now() < deadline) {
          const have = await store.storedDetectionIds(sinceMs - 7 * 86_400_000);
          stored = [...ids].filter((id) => have.has(id)).length;
          if (stored >= ids.size) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (stored < ids.size) info(`only ${stored} of ${ids.size} detections were stored within a minute`);
      }
    }
    if (values.json) {
      out(JSON.stringify(found));
    } else {
      for (const d of found) {
        const when = new Date(d.ts).toISOString().replace('T', ' ').slice(0, 19);
        const mark = known.has(d.id) ? ' (stored already)' : '';
        out(`${when}  ${printable(d.client).padEnd(22)} ${d.rule.padEnd(20)} ${d.severity.padEnd(8)} ${printable(d.evidence.summary ?? '')}${mark}`);
      }
      const rulesText = values.rule ? `rule ${values.rule}` : `${rules.length} rules`;
      out(`${result.requests} requests from ${new Date(sinceMs).toISOString()} to ${new Date(Math.min(untilMs, now)).toISOString()} through ${rulesText}: ${result.detections} detections${dryRun ? ' (dry run: nothing recorded)' : `, ${fresh.length} recorded, ${found.length - fresh.length} stored already`}`);
    }
    out(JSON.stringify({ requests: result.requests, detections: result.detections, recorded: dryRun ? 0 : fresh.length, byRule: result.byRule }));
    return 0;
  } finally {
    await stops.stopAll();
  }
}
