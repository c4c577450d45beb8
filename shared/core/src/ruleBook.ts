/**
 * The detection rules in force, as the compacted rules topic says: the defaults, overridden
 * by the topic's records (rules.ts, effectiveRules). What the scorer evaluates and what the
 * api lists and changes; both follow the topic, so a change reaches them within a second.
 *
 * The rules in force are a function of the latest record per rule id, so every instance
 * agrees whenever it started: a record no scorer can run (undecodable, invalid, under the
 * wrong key) counts as no record for its id (a default comes back as shipped, a custom rule
 * is gone) and goes to the DLQ; the other rules keep working.
 */
import type { CompactedReader, EventLog, LogMessage } from './eventLog.ts';
import type { IpwatchMetrics } from './observability/metrics.ts';
import { applyStep, decodeStep, type StepResult } from './pipelineStep.ts';
import { sendToDlq } from './eventLog/dlq.ts';
import { decodeRuleRecord, defaultRule, effectiveRules, RULE_KINDS, type Rule } from './rules.ts';
import { DecodeError } from './schemas.ts';
import { TOPICS } from './topics.ts';

/** Where a rule comes from: shipped as is, a shipped rule changed on the topic, or one of the users'. */
export type RuleOrigin = 'default' | 'changed' | 'custom';

export interface RuleBookOptions {
  log: EventLog;
  /** Counts records read and those sent to the DLQ (ipwatch_events_in_total, ipwatch_dlq_total). */
  metrics?: Pick<IpwatchMetrics, 'eventsIn' | 'dlq' | 'dropped'>;
  warn(message: string, err?: unknown): void;
  /**
   * Called with the rules in force after each record applied once the book is ready (never
   * during the first read). Synchronous and quick: it runs inside the topic reader.
   */
  onChange?: (rules: readonly Rule[]) => void;
  /**
   * Send records that cannot be applied to the DLQ (default true). A second reader of the
   * same topic (the api beside the scorer) turns it off so that each poison record is filed once.
   */
  deadLetters?: boolean;
  /** Default TOPICS.rules. */
  topic?: string;
}

export interface RuleBook {
  /** Resolves once the topic was read to its end; rejects when it cannot be read. */
  readonly ready: Promise<void>;
  /** The rules in force, disabled ones included (enabled false). The same array until the next change. */
  rules(): readonly Rule[];
  get(id: string): Rule | undefined;
  /** undefined for an id no rule has. */
  origin(id: string): RuleOrigin | undefined;
  /** Counts the changes applied (starting at 0), so a caller can tell that something changed. */
  version(): number;
  stop(): Promise<void>;
}

/**
 * validateRule checks a kind with `in`, which inherited names (toString, constructor) pass: only
 * RULE_KINDS' own names are kinds a scorer can evaluate.
 */
function ownKind<T extends { rule: Rule | null }>(topic: string, record: T): T {
  if (record.rule !== null && !Object.hasOwn(RULE_KINDS, record.rule.kind)) {
    throw new DecodeError(`${topic}: rule ${JSON.stringify(record.rule.id.slice(0, 64))} has kind ${JSON.stringify(record.rule.kind.slice(0, 40))}, not one of ${Object.keys(RULE_KINDS).join(', ')}`);
  }
  return record;
}

/**
 * @example
 * const book = createRuleBook({ log, metrics, warn, onChange: (rules) => evaluator.use(rules) });
 * await book.ready;
 * evaluator.use(book.rules());
 */
export function createRuleBook(options: RuleBookOptions): RuleBook {
  const { log, metrics, warn, onChange } = options;
  const topic = options.topic ?? TOPICS.rules;
  const deadLetters = options.deadLetters ?? true;
  /** The latest valid record per id; a tombstone or a poison record removes its id. */
  const records = new Map<string, Rule>();
  let version = 0;
  let isReady = false;
  let cache: { version: number; rules: readonly Rule[]; byId: ReadonlyMap<string, Rule> } | null = null;

  const current = () => {
    if (cache === null || cache.version !== version) {
      const rules = Object.freeze(effectiveRules(records));
      cache = { version, rules, byId: new Map(rules.map((r) => [r.id, r])) };
    }
    return cache;
  };

  function reject(m: LogMessage, refused: Exclude<StepResult<unknown>, { kind: 'ok' }>): void {
    const error = refused.kind === 'dlq' ? refused.error : refused.reason;
    warn(`rules: a record of ${m.topic} (key ${JSON.stringify(String(m.key).slice(0, 64))}) cannot be applied${deadLetters ? ' and goes to the DLQ' : ''}; that rule is as if it had no record`, error);
    if (!deadLetters) return;
    // The reader hands records over one by one, synchronously: the DLQ write goes on in the background.
    const filed = metrics ? applyStep(refused, m, { log, metrics }) : sendToDlq(log, m, error);
    filed.catch((e: unknown) => warn('rules: could not write to the DLQ', e));
  }

  function onMessage(m: LogMessage): void {
    metrics?.eventsIn.inc({ topic: m.topic });
    // Decoding is a pure function of the record's bytes: any failure is permanent, never worth a retry.
    const decoded = decodeStep('decode', () => ownKind(m.topic, decodeRuleRecord(m)), [Error]);
    if (decoded.kind !== 'ok') {
      reject(m, decoded);
      // A key-less record names no rule; any other removes its id's record.
      if (m.key === null || !records.delete(m.key)) return;
    } else {
      const { id, rule } = decoded.value;
      if (rule === null) {
        if (!records.delete(id)) return;
      } else {
        records.set(id, rule);
      }
    }
    version++;
    if (isReady && onChange) {
      try {
        onChange(current().rules);
      } catch (err) {
        warn('rules: the onChange handler failed', err);
      }
    }
  }

  let stopped = false;
  const opening: Promise<CompactedReader> = log.readCompacted(topic, { onMessage });
  const ready = opening.then(async (reader) => {
    await reader.ready;
    if (!stopped) isReady = true;
  });
  ready.catch(() => undefined);

  return {
    ready,
    rules: () => current().rules,
    get: (id) => current().byId.get(id),
    origin(id) {
      const isDefault = defaultRule(id) !== undefined;
      if (records.has(id)) return isDefault ? 'changed' : 'custom';
      return isDefault ? 'default' : undefined;
    },
    version: () => version,
    async stop() {
      stopped = true;
      isReady = false;
      const reader = await opening.catch(() => null);
      await reader?.stop();
    },
  };
}
