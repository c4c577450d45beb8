/**
 * What \`ipwatch rules set\` reads from its options (durations, parameters, the api body) and
 * how a change is told back (\`threshold: 50 -> 80\`, patterns as lines added and removed).
 * Every option value is checked here, so a mistake is a UsageError naming the option.
 */
import { readFileSync } from 'node:fs';
import { parseExpiry } from '@ipwatch/core/blockTarget';
import { formatDuration } from '@ipwatch/core/rules';
import { printable, UsageError } from '../output.ts';

/** One field a change touched, as the api reports it. */
export interface FieldChange {
  field: string;
  was: unknown;
  becomes: unknown;
}

/**
 * A duration as --expires takes it (90s, 30m, 12h, 7d, 2w), the + optional, in ms.
 *
 * @example
 * durationOf('--window', '10m'); // 600000
 */
export function durationOf(flag: string, text: string): number {
  try {
    return parseExpiry(text.startsWith('+') ? text : `+${text}`, 0) as number;
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(printable(text.slice(0, 40)))} is not a duration: write 90s, 30m, 12h, 7d or 2w`);
  }
}

/** Reads `--param NAME=VALUE` (VALUE @FILE: the file's non-blank lines, one a line). */
export function paramOf(text: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--param ${JSON.stringify(printable(text.slice(0, 60)))} must be NAME=VALUE, e.g. --param count=pages`);
  const name = text.slice(0, at);
  const value = text.slice(at + 1);
  if (!value.startsWith('@')) return [name, value];
  const file = value.slice(1);
  let content: string;
  try {
    content = readFile(file);
  } catch (err) {
    throw new UsageError(`--param ${name}: cannot read ${file}: ${(err as Error).message}`);
  }
  const lines = content.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new UsageError(`--param ${name}: ${file} is empty`);
  return [name, lines.join('\n')];
}

/**
 * The api body for `rules set`: only the fields the options name.
 *
 * @example
 * setBody({ threshold: '80', window: '30s' }); // { threshold: 80, windowMs: 30000 }
 */
export function setBody(values: Record<string, string | boolean | string[] | undefined>, readFile?: (path: string) => string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const text = (name: string) => values[name] as string | undefined;
  if (text('kind') !== undefined) body.kind = text('kind');
  if (text('window') !== undefined) body.windowMs = durationOf('--window', text('window') as string);
  const threshold = text('threshold');
  if (threshold !== undefined) {
    if (!/^\d{1,12}(\.\d{1,6})?$/.test(threshold)) throw new UsageError(`--threshold ${JSON.stringify(printable(threshold.slice(0, 40)))} must be a number of at least 0, e.g. 50 (or a share, 0.5, for error_ratio)`);
    body.threshold = Number(threshold);
  }
  if (text('severity') !== undefined) body.severity = text('severity');
  const action = text('action');
  if (action !== undefined) {
    if (action !== 'flag' && action !== 'block') throw new UsageError(`--action ${JSON.stringify(printable(action.slice(0, 40)))} must be flag (detect and alert) or block`);
    body.autoBlock = action === 'block';
  }
  const blockFor = text('block-for');
  if (blockFor !== undefined) body.blockForMs = blockFor === 'never' ? null : durationOf('--block-for', blockFor);
  const escalation = text('escalation');
  if (escalation !== undefined) body.escalation = escalation === 'none' ? [] : escalation.split(',').map((d) => durationOf('--escalation', d.trim()));
  const memory = text('escalation-memory');
  if (memory !== undefined) body.escalationMemoryMs = memory === '0' ? 0 : durationOf('--escalation-memory', memory);
  const quiet = text('quiet');
  if (quiet !== undefined) body.quietMs = quiet === '0' ? 0 : durationOf('--quiet', quiet);
  if (text('description') !== undefined) body.description = text('description');
  if (values.enable && values.disable) throw new UsageError('give --enable or --disable, not both');
  if (values.enable) body.enabled = true;
  if (values.disable) body.enabled = false;
  const mode = text('mode');
  if (mode !== undefined) {
    const m = mode === 'dry-run' ? 'dry_run' : mode;
    if (m !== 'live' && m !== 'dry_run') throw new UsageError(`--mode ${JSON.stringify(printable(mode.slice(0, 40)))} must be live or dry_run`);
    body.mode = m;
  }
  const params = new Map<string, string | null>();
  for (const p of (values.param as string[] | undefined) ?? []) {
    const [name, value] = paramOf(p, readFile);
    if (params.has(name)) throw new UsageError(`--param ${name} is given twice: give each parameter once`);
    params.set(name, value);
  }
  for (const name of (values['unset-param'] as string[] | undefined) ?? []) {
    if (params.has(name)) throw new UsageError(`--param ${name} and --unset-param ${name}: give one of them`);
    params.set(name, null);
  }
  if (params.size) body.params = Object.fromEntries(params);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option, e.g. ipwatch rules set burst --threshold 80 (`ipwatch rules --help` lists them)');
  return body;
}

/** What a field is called in the command's options and output. */
export const LABELS: Record<string, string> = {
  windowMs: 'window',
  autoBlock: 'action',
  blockForMs: 'block for',
  escalation: 'escalation',
  escalationMemoryMs: 'escalation memory',
  quietMs: 'quiet',
};

/** A field's value as a person reads it: durations in units, flag or block, none or never. */
export function shown(field: string, value: unknown): string {
  if (value === null || value === undefined) return field === 'blockForMs' ? 'never (no end)' : '(not set)';
  switch (field) {
    case 'windowMs':
    case 'escalationMemoryMs':
      return formatDuration(value as number);
    case 'quietMs':
      return value === 0 ? '0 (the window)' : formatDuration(value as number);
    case 'blockForMs':
      return formatDuration(value as number);
    case 'escalation':
      return (value as number[]).length ? (value as number[]).map(formatDuration).join(', ') : 'none';
    case 'autoBlock':
      return value ? 'block' : 'flag';
    case 'enabled':
      return value ? 'yes' : 'no';
    case 'kind':
    case 'severity':
    case 'mode':
    case 'threshold':
      return printable(String(value));
    default:
      return JSON.stringify(printable(String(value)).slice(0, 200));
  }
}

/** One line per changed field, `threshold: 50 -> 80`; a multi-line parameter (patterns) as lines added and removed. */
export function describeRuleChanges(changes: readonly FieldChange[]): string[] {
  const lines: string[] = [];
  for (const c of changes) {
    const label = c.field.startsWith('params.') ? `param ${printable(c.field.slice(7))}` : (LABELS[c.field] ?? c.field);
    const multiLine = [c.was, c.becomes].some((v) => typeof v === 'string' && v.includes('\n'));
    if (!multiLine) {
      lines.push(`${label}: ${shown(c.field, c.was)} -> ${shown(c.field, c.becomes)}`);
      continue;
    }
    const before = typeof c.was === 'string' ? c.was.split('\n') : [];
    const after = typeof c.becomes === 'string' ? c.becomes.split('\n') : [];
    lines.push(`${label}: ${before.length ? `${before.length} lines` : '(not set)'} -> ${after.length ? `${after.length} lines` : '(not set)'}`);
    for (const l of before.filter((x) => !after.includes(x))) lines.push(`  - ${printable(l)}`);
    for (const l of after.filter((x) => !before.includes(x))) lines.push(`  + ${printable(l)}`);
  }
  return lines;
}
