/**
 * Changing a rule from the rules pages: the edit form's text fields read into typed values
 * (durations as `ipwatch rules set` takes them: 90s, 30m, 12h, 7d), merged into the rule,
 * checked whole by validateRule (the check every scorer runs), written to the rules topic and
 * confirmed once the api's rule book shows it, as the JSON rules API does (rulesApi.ts); the
 * scorers follow the same topic and apply the change live.
 *
 * rulesApi.ts keeps its change and reset inside its router; until it exports them, the write
 * and the wait are repeated here (a few lines), with the same record and the same check.
 */
import { parseExpiry } from '@ipwatch/core/blockTarget';
import { formatDuration, RULE_PARAMS, RuleError, SEVERITIES, validateRule, type Rule, type RuleKind, type Severity } from '@ipwatch/core/rules';
import { removeRule, ruleChanges, writeRule, type RuleFieldChange, type RulesApiOptions } from '../../rulesApi.ts';
import type { Caller } from '../../authentication.ts';

/** The edit form's fields; each parameter of the rule's kind is `param.<name>`. */
export const RULE_FORM_FIELDS = ['window', 'threshold', 'severity', 'action', 'block_for', 'escalation', 'quiet'] as const;

/** The form field of a parameter. */
export const paramField = (name: string) => `param.${name}`;

/** Every field name the edit form of this rule may send. */
export function ruleFormNames(rule: Rule): string[] {
  return [...RULE_FORM_FIELDS, ...Object.keys(RULE_PARAMS[rule.kind as RuleKind] ?? {}).map(paramField)];
}

/** The rule's values as the edit form shows them. */
export function ruleFormValues(rule: Rule): Record<string, string> {
  const values: Record<string, string> = {
    window: formatDuration(rule.windowMs),
    threshold: String(rule.threshold),
    severity: rule.severity,
    action: rule.autoBlock ? 'block' : 'flag',
    block_for: rule.blockForMs === null ? 'never' : formatDuration(rule.blockForMs),
    escalation: rule.escalation.length ? rule.escalation.map(formatDuration).join(', ') : 'none',
    quiet: rule.quietMs === 0 ? '0' : formatDuration(rule.quietMs),
  };
  for (const name of Object.keys(RULE_PARAMS[rule.kind as RuleKind] ?? {})) values[paramField(name)] = Object.hasOwn(rule.params, name) ? (rule.params[name] as string) : '';
  return values;
}

function duration(label: string, text: string): number {
  const t = text.trim();
  try {
    return parseExpiry(t.startsWith('+') ? t : `+${t}`, 0) as number;
  } catch {
    throw new RuleError(`${label} ${JSON.stringify(t.slice(0, 40))} is not a duration: write 90s, 30m, 12h, 7d or 2w`);
  }
}

/**
 * The rule as the form edits it (not written): only the fields given change; an empty
 * parameter is unset. Throws RuleError naming the field.
 *
 * @example
 * editedRule(rule, { threshold: '80', window: '30s' }, { name: 'local' }, Date.now()).threshold; // 80
 */
export function editedRule(rule: Rule, form: Partial<Record<string, string>>, caller: Pick<Caller, 'name'>, now: number): Rule {
  const next: Rule = { ...rule, params: { ...rule.params }, escalation: [...rule.escalation] };
  const given = (name: string) => form[name];
  const window = given('window');
  if (window !== undefined) next.windowMs = duration('window', window);
  const threshold = given('threshold');
  if (threshold !== undefined) {
    if (!/^\d{1,12}(\.\d{1,6})?$/.test(threshold.trim())) throw new RuleError(`threshold ${JSON.stringify(threshold.slice(0, 40))} must be a number of at least 0, e.g. 50 (or a share, 0.5, for error_ratio)`);
    next.threshold = Number(threshold.trim());
  }
  const severity = given('severity');
  if (severity !== undefined) {
    if (!SEVERITIES.includes(severity as Severity)) throw new RuleError(`severity must be one of ${SEVERITIES.join(', ')}`);
    next.severity = severity as Severity;
  }
  const action = given('action');
  if (action !== undefined) {
    if (action !== 'flag' && action !== 'block') throw new RuleError('action must be flag (detect and alert) or block');
    next.autoBlock = action === 'block';
  }
  const blockFor = given('block_for')?.trim();
  if (blockFor !== undefined) next.blockForMs = blockFor === 'never' ? null : duration('block for', blockFor);
  const escalation = given('escalation')?.trim();
  if (escalation !== undefined) next.escalation = escalation === 'none' || escalation === '' ? [] : escalation.split(',').map((d) => duration('escalation', d));
  const quiet = given('quiet')?.trim();
  if (quiet !== undefined) next.quietMs = quiet === '0' || quiet === '' ? 0 : duration('quiet', quiet);
  for (const name of Object.keys(RULE_PARAMS[rule.kind as RuleKind] ?? {})) {
    const value = given(paramField(name));
    if (value === undefined) continue;
    // A textarea sends CRLF; a patterns parameter is one expression a line.
    const text = value.replace(/\r\n?/g, '\n').trim();
    if (text === '') delete next.params[name];
    else Object.defineProperty(next.params, name, { value: text, enumerable: true, writable: true, configurable: true });
  }
  next.updatedAt = now;
  next.updatedBy = caller.name;
  return validateRule(next);
}

export interface RuleSave {
  changes: RuleFieldChange[];
  /** The api's rule book shows it (false: written, not seen back within the wait). */
  applied: boolean;
}

/** Writes the rule to the rules topic (unless nothing changed) and waits until the api's book shows it. */
export async function saveRule(options: RulesApiOptions, previous: Rule, next: Rule): Promise<RuleSave> {
  const changes = ruleChanges(previous, next);
  if (changes.length === 0) return { changes, applied: true };
  return { changes, applied: await writeRule(options, next) };
}

/** Back to what ipwatch ships (a custom rule is deleted); nothing to do for an unchanged default. */
export async function resetRule(options: RulesApiOptions, id: string, caller: Pick<Caller, 'name'>): Promise<boolean> {
  if (options.rules.book.origin(id) === 'default') return true;
  return removeRule(options, id, caller.name);
}
