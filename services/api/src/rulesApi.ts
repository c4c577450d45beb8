/**
 * The detection rules through the api: what `ipwatch rules` lists, shows and changes. A change
 * is checked field by field, merged into the rule as it is, validated whole (rules.ts, the
 * check every scorer runs too), written to the compacted rules topic and answered once the
 * api's own rule book shows it: the scorer follows the same topic and applies it within a
 * second. Every change is made by the authenticated caller, recorded in the rule's updatedBy.
 */
import express, { type Request, type Response, type NextFunction, type Router } from 'express';
import type { EventLog } from '@ipwatch/core/eventLog';
import { IpwatchError } from '@ipwatch/core/errors';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { createRuleBook, type RuleBook, type RuleOrigin } from '@ipwatch/core/ruleBook';
import { codecs } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { defaultRule, describeAction, RULE_ID, RULE_KINDS, RULE_PARAMS, RuleError, ruleMessage, ruleRemoval, validateRule, type Rule, type RuleKind } from '@ipwatch/core/rules';
import { callerOf, type Caller } from './authentication.ts';
import { readQuery, refuseUnknownNames } from './queryParameters.ts';

/** The fields a change may set (PUT /api/rules/:id); anything else is refused, naming it. */
export const RULE_FIELDS = ['kind', 'windowMs', 'threshold', 'severity', 'mode', 'autoBlock', 'blockForMs', 'escalation', 'escalationMemoryMs', 'quietMs', 'description', 'enabled', 'params'] as const;
type RuleField = (typeof RULE_FIELDS)[number];
/** What a new (custom) rule must say; the rest has defaults. */
const REQUIRED_TO_CREATE: readonly RuleField[] = ['kind', 'windowMs', 'threshold'];

/** A rule as the api answers it: the record, where it comes from and what it does, in words. */
export type RuleView = Rule & { origin: RuleOrigin; action: string };

/** One field a change made, as it was and as it becomes (params.NAME for a parameter; null: not set). */
export interface RuleFieldChange {
  field: string;
  was: unknown;
  becomes: unknown;
}

export interface RuleChangeResult {
  rule: RuleView;
  /** The rule before the change (null when it was created). */
  previous: Rule | null;
  created: boolean;
  changes: RuleFieldChange[];
  /** The api's rule book shows the change (false: written, not seen back within the wait). */
  applied: boolean;
}

export interface RuleResetResult {
  /** restored: a default is as shipped again; deleted: a custom rule is gone; unchanged: the default was as shipped. */
  reset: 'restored' | 'deleted' | 'unchanged';
  /** The rule now (null once deleted). */
  rule: RuleView | null;
  previous: Rule;
  changes: RuleFieldChange[];
  applied: boolean;
}

/** The api's own reading of the rules topic, and a way to wait until it shows a change. */
export interface RulesState {
  readonly book: RuleBook;
  /** Resolves true once `test` holds (checked now and after each change), false after `timeoutMs`. */
  waitFor(test: () => boolean, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * The api's rule book: it files nothing in the DLQ (the scorer's book does), and it wakes the
 * changes waiting to be seen back.
 *
 * @example
 * const rules = openRulesState({ log: ctx.log, warn: ctx.warn });
 * await rules.book.ready;
 */
export function openRulesState(options: { log: EventLog; warn(message: string, err?: unknown): void; metrics?: Pick<IpwatchMetrics, 'eventsIn' | 'dlq' | 'dropped'> }): RulesState {
  const waiters = new Set<() => void>();
  const book = createRuleBook({ ...options, deadLetters: false, onChange: () => [...waiters].forEach((w) => w()) });
  return {
    book,
    waitFor(test, timeoutMs) {
      if (test()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const check = () => {
          if (!test()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(false);
        }, timeoutMs);
        waiters.add(check);
      });
    },
    stop: () => book.stop(),
  };
}

export interface RulesApiOptions {
  rules: RulesState;
  log: EventLog;
  warn(message: string, err?: unknown): void;
  now?: () => number;
  /** How long a change waits to be seen back before answering anyway (applied: false). Default 5 s. */
  confirmTimeoutMs?: number;
}

const shown = (text: string) => JSON.stringify(text.slice(0, 64));

/** Levenshtein distance, for "did you mean": ids are at most 63 characters. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] as number;
}

function noSuchRule(id: string, book: RuleBook, creating: boolean): IpwatchError {
  const near = RULE_ID.test(id) ? book.rules().find((r) => distance(r.id, id) <= 2) : undefined;
  const hint = creating ? `; to create it, give kind, windowMs and threshold (ipwatch rules set ${id.slice(0, 64)} --kind K --window 10m --threshold N)` : ': `ipwatch rules list` shows the ids';
  return new IpwatchError('IPWATCH_NO_SUCH_RULE', `no rule has the id ${shown(id)}${near ? ` (did you mean ${near.id}?)` : ''}${hint}`);
}

const isDuration = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The body's fields, each of the type the Rule record has (validateRule then checks ranges
 * and meaning). Throws RuleError naming the field.
 */
function readFields(id: string, body: Record<string, unknown>): Partial<Omit<Rule, 'params'>> & { params?: Record<string, string | null> } {
  const where = `rule ${shown(id)}`;
  const bad = (field: string, what: string) => new RuleError(`${where}: ${field} must be ${what}`);
  const out: Partial<Omit<Rule, 'params'>> & { params?: Record<string, string | null> } = {};
  for (const field of RULE_FIELDS) {
    const v = body[field];
    if (v === undefined) continue;
    switch (field) {
      case 'kind':
        if (typeof v !== 'string' || !Object.hasOwn(RULE_KINDS, v)) throw bad(field, `one of ${Object.keys(RULE_KINDS).join(', ')}`);
        out.kind = v;
        break;
      case 'windowMs':
      case 'escalationMemoryMs':
      case 'quietMs':
        if (!isDuration(v)) throw bad(field, 'a whole number of milliseconds');
        out[field] = v;
        break;
      case 'blockForMs':
        if (v !== null && !isDuration(v)) throw bad(field, 'a whole number of milliseconds, or null for a block that never expires');
        out.blockForMs = v;
        break;
      case 'threshold':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, 'a number');
        out.threshold = v;
        break;
      case 'severity':
      case 'mode':
        if (typeof v !== 'string') throw bad(field, 'text');
        (out as Record<string, unknown>)[field] = v;
        break;
      case 'autoBlock':
      case 'enabled':
        if (typeof v !== 'boolean') throw bad(field, 'true or false');
        out[field] = v;
        break;
      case 'escalation':
        if (!Array.isArray(v) || v.length > 10 || !v.every(isDuration)) throw bad(field, 'a list of up to 10 durations in milliseconds');
        out.escalation = v;
        break;
      case 'description':
        if (typeof v !== 'string') throw bad(field, 'text');
        // One line, nothing a terminal would act on: it is shown in tables and alerts.
        // eslint-disable-next-line no-control-regex
        out.description = v.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();
        break;
      case 'params': {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'an object of parameter names and text values (null removes one)');
        const params: Record<string, string | null> = {};
        for (const [name, value] of Object.entries(v)) {
          if (value !== null && typeof value !== 'string') throw bad(`parameter ${shown(name)}`, 'text, or null to remove it');
          // defineProperty: a parameter named __proto__ stays a name, never a prototype.
          Object.defineProperty(params, name, { value, enumerable: true, writable: true, configurable: true });
        }
        out.params = params;
        break;
      }
    }
  }
  return out;
}

/** The fields that differ between two versions of a rule, parameters one by one. */
export function ruleChanges(was: Rule | null, becomes: Rule | null): RuleFieldChange[] {
  if (was === null || becomes === null) return [];
  const changes: RuleFieldChange[] = [];
  for (const field of RULE_FIELDS) {
    if (field === 'params') continue;
    const [a, b] = [was[field], becomes[field]];
    if (JSON.stringify(a) !== JSON.stringify(b)) changes.push({ field, was: a, becomes: b });
  }
  const names = new Set([...Object.keys(was.params), ...Object.keys(becomes.params)]);
  for (const name of [...names].sort()) {
    const [a, b] = [Object.hasOwn(was.params, name) ? was.params[name] : null, Object.hasOwn(becomes.params, name) ? becomes.params[name] : null];
    if (a !== b) changes.push({ field: `params.${name}`, was: a, becomes: b });
  }
  return changes;
}

/**
 * The routes under /api/rules. Without `options` (an api with no event log) each answers 503.
 *
 * @example
 * app.use('/api/rules', rulesRouter({ rules, log, warn }));
 */
/**
 * Writes a rule to the rules topic and waits until the api's book shows exactly it (every
 * scorer follows the same topic); false when it was not seen back in time. The JSON API and
 * the dashboard's rule pages both change rules through it.
 */
export async function writeRule(options: RulesApiOptions, rule: Rule): Promise<boolean> {
  const { book } = options.rules;
  const confirmMs = options.confirmTimeoutMs ?? 5000;
  const message = ruleMessage(rule);
  await options.log.produce(TOPICS.rules, [message]);
  const written = message.value;
  const seen = await options.rules.waitFor(() => {
    const r = book.get(rule.id);
    return r !== undefined && book.origin(rule.id) !== 'default' && codecs.Rule.encode(r).equals(written);
  }, confirmMs);
  if (!seen) options.warn(`api: rule ${rule.id} was written to ${TOPICS.rules} but not seen back within ${confirmMs} ms`);
  return seen;
}

/** Tombstones a rule (a default comes back as shipped, a custom one is gone) and waits until the book shows it. */
export async function removeRule(options: RulesApiOptions, id: string, actor: string): Promise<boolean> {
  const { book } = options.rules;
  const confirmMs = options.confirmTimeoutMs ?? 5000;
  const shipped = defaultRule(id);
  await options.log.produce(TOPICS.rules, [ruleRemoval(id, actor)]);
  const applied = await options.rules.waitFor(() => (shipped ? book.origin(id) === 'default' : book.get(id) === undefined), confirmMs);
  if (!applied) options.warn(`api: the reset of rule ${id} was written to ${TOPICS.rules} but not seen back within ${confirmMs} ms`);
  return applied;
}

export function rulesRouter(options: RulesApiOptions | undefined): Router {
  const router = express.Router();
  if (!options) {
    router.use(() => {
      throw new IpwatchError('IPWATCH_LISTS_UNAVAILABLE', 'this api runs without the event log, so it cannot show or change the detection rules: use the api of `ipwatch dev` or `ipwatch run api`');
    });
    return router;
  }
  const { book } = options.rules;
  const now = options.now ?? Date.now;

  const view = (rule: Rule): RuleView => ({ ...rule, origin: book.origin(rule.id) ?? 'custom', action: describeAction(rule) });
  const find = (id: string): Rule => {
    const rule = book.get(id);
    if (!rule) throw noSuchRule(id, book, false);
    return rule;
  };
  // JSON only: a cross-site form post (text/plain, form-encoded) is refused before it can change a rule.
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) throw new IpwatchError('IPWATCH_NOT_JSON', 'send the change as JSON (Content-Type: application/json)');
    next();
  };
  // Room for a patterns parameter at its largest (200 lines of 500 characters).
  const jsonBody = express.json({ limit: '256kb', strict: true, type: 'application/json' });
  const bodyOf = (req: Request): Record<string, unknown> => {
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new IpwatchError('IPWATCH_BAD_BODY', 'the body must be one JSON object, e.g. {"threshold": 80}');
    return body as Record<string, unknown>;
  };

  const write = (rule: Rule) => writeRule(options, rule);

  /** Merges a change into the rule as it is (or creates one), validates it whole, writes it. */
  async function change(id: string, body: Record<string, unknown>, caller: Caller, mayCreate: boolean): Promise<RuleChangeResult> {
    refuseUnknownNames(Object.keys(body), RULE_FIELDS, `a change of rule ${shown(id)}`, 'field');
    const previous = book.get(id) ?? null;
    const fields = readFields(id, body);
    if (previous === null) {
      const missing = REQUIRED_TO_CREATE.filter((f) => fields[f as keyof typeof fields] === undefined);
      if (!mayCreate || missing.length === REQUIRED_TO_CREATE.length) throw noSuchRule(id, book, mayCreate);
      if (missing.length) throw new RuleError(`rule ${shown(id)} is new: to create it give ${missing.join(' and ')} too`);
    } else if (Object.keys(body).length === 0) {
      throw new RuleError(`rule ${shown(id)}: nothing to change; give a field (${RULE_FIELDS.join(', ')})`);
    }
    const base: Rule = previous ?? {
      id,
      kind: '',
      enabled: true,
      windowMs: 0,
      threshold: 0,
      severity: 'medium',
      autoBlock: false,
      blockForMs: null,
      params: {},
      updatedAt: 0,
      description: '',
      mode: 'live',
      escalation: [],
      escalationMemoryMs: 30 * 86_400_000,
      quietMs: 0,
      updatedBy: '',
    };
    const { params: paramChanges, ...rest } = fields;
    const params = new Map(Object.entries(base.params));
    for (const [name, value] of Object.entries(paramChanges ?? {})) {
      if (value === null) params.delete(name);
      else params.set(name, value);
    }
    const next: Rule = { ...base, ...rest, id, params: Object.fromEntries(params), updatedAt: now(), updatedBy: caller.name };
    // validateRule looks parameter names up in a plain object: only its own names are parameters.
    const takes = RULE_PARAMS[next.kind as RuleKind];
    const foreign = [...params.keys()].filter((name) => !Object.hasOwn(takes, name));
    if (foreign.length) {
      const list = Object.keys(takes);
      const moved = previous !== null && next.kind !== previous.kind ? ` (the kind changed from ${previous.kind}: unset the parameters it does not take, params {"${foreign[0]}": null})` : '';
      throw new RuleError(`rule ${shown(id)}: a rule of kind ${next.kind} takes no parameter ${foreign.slice(0, 5).map((n) => shown(n)).join(', ')}${list.length ? ` (it takes ${list.join(', ')})` : ' (it takes none)'}${moved}`);
    }
    validateRule(next);
    const changes = ruleChanges(previous, next);
    if (previous !== null && changes.length === 0) return { rule: view(previous), previous, created: false, changes, applied: true };
    const applied = await write(next);
    return { rule: applied ? view(book.get(id) as Rule) : { ...view(next), origin: defaultRule(id) ? 'changed' : 'custom' }, previous, created: previous === null, changes, applied };
  }

  router.get('/', (req, res) => {
    readQuery(req.query, [], 'GET /api/rules');
    res.json({ rules: book.rules().map(view) });
  });

  router.get('/:id', (req, res) => {
    readQuery(req.query, [], 'GET /api/rules/:id');
    const rule = find(String(req.params.id));
    const kind = rule.kind as RuleKind;
    res.json({
      rule: view(rule),
      kindDoc: RULE_KINDS[kind],
      paramDocs: Object.fromEntries(Object.entries(RULE_PARAMS[kind]).map(([name, spec]) => [name, spec.doc])),
    });
  });

  router.put('/:id', requireJson, jsonBody, async (req, res) => {
    readQuery(req.query, [], 'PUT /api/rules/:id');
    const result = await change(String(req.params.id), bodyOf(req), callerOf(res), true);
    res.status(result.created ? 201 : 200).json(result);
  });

  const shorthands: Record<string, Partial<Rule>> = { enable: { enabled: true }, disable: { enabled: false }, 'dry-run': { mode: 'dry_run' }, live: { mode: 'live' } };
  for (const [name, fields] of Object.entries(shorthands)) {
    router.post(`/:id/${name}`, requireJson, jsonBody, async (req, res) => {
      readQuery(req.query, [], `POST /api/rules/:id/${name}`);
      refuseUnknownNames(Object.keys(bodyOf(req)), [], `POST /api/rules/:id/${name}`, 'field');
      const id = String(req.params.id);
      find(id);
      res.json(await change(id, fields, callerOf(res), false));
    });
  }

  router.delete('/:id', async (req, res) => {
    readQuery(req.query, [], 'DELETE /api/rules/:id');
    const id = String(req.params.id);
    const previous = find(id);
    const shipped = defaultRule(id);
    if (book.origin(id) === 'default') {
      const result: RuleResetResult = { reset: 'unchanged', rule: view(previous), previous, changes: [], applied: true };
      return void res.json(result);
    }
    const applied = await removeRule(options, id, callerOf(res).name);
    const result: RuleResetResult = shipped
      ? { reset: 'restored', rule: view(shipped), previous, changes: ruleChanges(previous, shipped), applied }
      : { reset: 'deleted', rule: null, previous, changes: [], applied };
    res.json(result);
  });

  return router;
}
