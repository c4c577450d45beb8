import { loadConfig } from '@ipwatch/core/config';
import { describeAction, formatDuration, type Rule } from '@ipwatch/core/rules';
import { apiRequest, ApiUnreachable } from '../apiClient.ts';
import { out, info, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';
import { describeRuleChanges, LABELS, setBody, shown, type FieldChange } from '../rules/ruleEdits.ts';

export { describeRuleChanges, durationOf, paramOf, setBody } from '../rules/ruleEdits.ts';

export const help = `ipwatch rules list [--json]
ipwatch rules show <id> [--json]
ipwatch rules set <id> [--kind K] [--window 10m] [--threshold N] [--severity low|medium|high|critical]
                       [--action flag|block] [--block-for 1h|never] [--escalation 1h,4h,24h,7d|none]
                       [--escalation-memory 30d] [--quiet 10m|0] [--description TEXT]
                       [--param NAME=VALUE ...] [--param NAME=@FILE] [--unset-param NAME ...]
                       [--enable|--disable] [--mode live|dry_run] [--json]
ipwatch rules enable|disable|dry-run|live <id>
ipwatch rules reset <id>
  The detection rules the scorer runs, changed live: a change reaches every scorer within a
  second. A rule fires when its count is MORE than its threshold within its window.
  list       every rule: id, kind, window, threshold, severity, mode, action, enabled, origin
             (default: as shipped; changed: a default with changes; custom: one of yours)
  show       every field of one rule, its description, and its parameters with what each takes
  set        changes the fields given and prints each as it was and as it is now; on an id
             no rule has, creates a rule (--kind, --window and --threshold needed)
  enable, disable   switch a rule on or off (a disabled rule detects nothing)
  dry-run    the rule records what it detects and blocks nobody; live: it acts again
  reset      a default rule back as shipped; a custom rule deleted
  Durations: 90s, 30m, 12h, 7d, 2w (as --expires takes them, without the +).
  --action block       block a client the rule detects (flag: detect and alert only)
  --block-for D|never  how long a block lasts when there is no escalation
  --escalation LIST    block durations for a 1st, 2nd, ... offence (the last repeats); none: --block-for each time
  --escalation-memory D  how long an offence counts towards escalation
  --quiet D            no second detection of one client by this rule for this long (0: the window)
  --param NAME=VALUE   set a parameter of the rule's kind (\`rules show <id>\` lists them); repeat
                       for several; NAME=@FILE reads the value from a file (patterns: one
                       regular expression per line)
  --unset-param NAME   remove a parameter (its default applies)
  Examples:
    ipwatch rules set burst --threshold 80 --window 30s
    ipwatch rules set sensitive-files --param patterns=@my-patterns.txt
    ipwatch rules set admin-probe --kind path_match --window 10m --threshold 3 --param field=path --param 'patterns=^/manage' --action block --block-for 1h
    ipwatch rules dry-run scanner-user-agent`;

const SUBCOMMANDS = ['list', 'show', 'set', 'enable', 'disable', 'dry-run', 'live', 'reset'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

type RuleView = Rule & { origin: 'default' | 'changed' | 'custom'; action: string };
interface ChangeAnswer {
  rule: RuleView;
  previous: Rule | null;
  created: boolean;
  changes: FieldChange[];
  applied: boolean;
}
interface ResetAnswer {
  reset: 'restored' | 'deleted' | 'unchanged';
  rule: RuleView | null;
  previous: Rule;
  changes: FieldChange[];
  applied: boolean;
}

/** Calls the api; when it is not running, says how to start it. */
async function callApi<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  try {
    // apiRequest's type lists GET, POST and DELETE; it sends any method the same way.
    return await apiRequest<T>(loadConfig(), method as 'POST', path, body === undefined ? {} : { body });
  } catch (err) {
    if (err instanceof ApiUnreachable) {
      throw new ApiUnreachable(`${err.message}. The detection rules are changed through the api: start ipwatch (\`npm start\`) or the api service (\`ipwatch run api\`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it.`);
    }
    throw err;
  }
}

/** Near enough to be a typo: one or two letters added, dropped, changed or swapped. */
function typo(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return (row[b.length] as number) <= 2;
}

/** parseArgsOnce, with an unknown option named, a near one suggested, and the help. */
function parse<O extends Parameters<typeof parseArgsOnce>[1]>(argv: string[], options: O, positionals: boolean) {
  try {
    return parseArgsOnce(argv, options, positionals);
  } catch (err) {
    const unknown = /^Unknown option '(--?[^']+)'/.exec((err as Error).message)?.[1];
    if ((err as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || unknown === undefined) throw err;
    const near = Object.keys(options).find((o) => typo(o, unknown.replace(/^-+/, '')));
    throw new UsageError(`unknown option ${printable(unknown)}${near ? ` (did you mean --${near}?)` : ''}\n\n${help}`);
  }
}

const rulePath = (id: string, action = '') => `/api/v1/rules/${encodeURIComponent(id)}${action}`;

/** The id, the one positional a subcommand takes. */
function idOf(positionals: string[], sub: Subcommand): string {
  if (positionals.length === 0) throw new UsageError(`say which rule: ipwatch rules ${sub} <id> (\`ipwatch rules list\` shows the ids)`);
  if (positionals.length > 1) throw new UsageError(`one rule at a time (${positionals.slice(0, 3).map((p) => JSON.stringify(printable(p))).join(', ')} given): ipwatch rules ${sub} <id>`);
  return positionals[0] as string;
}

function notApplied(id: string): void {
  info(`warning: the change was written to the rules topic, but the api did not see it back in time: \`ipwatch rules show ${id}\` shows what is in force`);
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } }, false);
  const { rules } = await callApi<{ rules: RuleView[] }>('GET', '/api/v1/rules');
  if (values.json) {
    out(JSON.stringify(rules));
    return 0;
  }
  const header = ['ID', 'KIND', 'WINDOW', 'THRESHOLD', 'SEVERITY', 'MODE', 'ACTION', 'ENABLED', 'ORIGIN'];
  const rows = rules.map((r) => [r.id, r.kind, formatDuration(r.windowMs), String(r.threshold), r.severity, r.mode, r.action, r.enabled ? 'yes' : 'no', r.origin].map((c) => printable(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  out(fmt(header));
  for (const r of rows) out(fmt(r));
  const count = (o: string) => rules.filter((r) => r.origin === o).length;
  const disabled = rules.filter((r) => !r.enabled).length;
  info(`${rules.length} rules (${count('changed')} changed, ${count('custom')} custom, ${disabled} disabled)`);
  return 0;
}

async function show(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  const id = idOf(positionals, 'show');
  const answer = await callApi<{ rule: RuleView; kindDoc: string; paramDocs: Record<string, string> }>('GET', rulePath(id));
  if (values.json) {
    out(JSON.stringify(answer));
    return 0;
  }
  const { rule: r, kindDoc, paramDocs } = answer;
  const origin = r.origin === 'default' ? 'default, as shipped' : r.origin === 'changed' ? `default, changed: \`ipwatch rules reset ${printable(r.id)}\` restores it` : 'custom';
  const field = (label: string, value: string) => `  ${`${label}:`.padEnd(19)} ${value}`;
  const lines = [
    `rule ${printable(r.id)} (${origin})`,
    ...(r.description ? [`  ${printable(r.description)}`] : []),
    '',
    field('kind', `${printable(r.kind)}: counts ${kindDoc}`),
    field('enabled', r.enabled ? 'yes' : 'no (it detects nothing)'),
    field('mode', r.mode === 'dry_run' ? 'dry_run (records what it detects, blocks nobody)' : 'live'),
    field('window', formatDuration(r.windowMs)),
    field('threshold', `${r.threshold} (fires when the count is more than this within the window)`),
    field('severity', r.severity),
    field('action', printable(r.action)),
    field('block for', !r.autoBlock ? '- (the action is flag: no block)' : r.escalation.length ? '- (the escalation gives the durations)' : shown('blockForMs', r.blockForMs)),
    field('escalation', r.escalation.length ? `${shown('escalation', r.escalation)} (for a 1st, 2nd, ... offence; the last repeats)` : 'none'),
    field('escalation memory', shown('escalationMemoryMs', r.escalationMemoryMs)),
    field('quiet', shown('quietMs', r.quietMs)),
    field('updated', r.updatedAt ? `${new Date(r.updatedAt).toISOString().slice(0, 19).replace('T', ' ')} UTC by ${printable(r.updatedBy)}` : 'never (as shipped)'),
    '',
    'parameters:',
  ];
  const names = [...new Set([...Object.keys(paramDocs), ...Object.keys(r.params)])];
  if (names.length === 0) lines.push('  (this kind takes none)');
  for (const name of names) {
    const value = Object.hasOwn(r.params, name) ? r.params[name] : undefined;
    if (value === undefined) lines.push(`  ${printable(name)} (not set)`);
    else if (value.includes('\n')) lines.push(`  ${printable(name)} = ${value.split('\n').length} lines:`, ...value.split('\n').map((l) => `      ${printable(l)}`));
    else lines.push(`  ${printable(name)} = ${printable(value)}`);
    if (paramDocs[name]) lines.push(`      -- ${paramDocs[name]}`);
  }
  out(lines.join('\n'));
  return 0;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      kind: { type: 'string' },
      window: { type: 'string' },
      threshold: { type: 'string' },
      severity: { type: 'string' },
      action: { type: 'string' },
      'block-for': { type: 'string' },
      escalation: { type: 'string' },
      'escalation-memory': { type: 'string' },
      quiet: { type: 'string' },
      description: { type: 'string' },
      param: { type: 'string', multiple: true },
      'unset-param': { type: 'string', multiple: true },
      enable: { type: 'boolean' },
      disable: { type: 'boolean' },
      mode: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  const id = idOf(positionals, 'set');
  const { json, ...fields } = values;
  const result = await callApi<ChangeAnswer>('PUT', rulePath(id), setBody(fields));
  if (json) {
    out(JSON.stringify(result));
    return 0;
  }
  const r = result.rule;
  const state = result.applied ? 'applied' : 'written';
  if (result.created) {
    out(`created rule ${printable(r.id)} (${state}): ${printable(r.kind)}, more than ${r.threshold} in ${formatDuration(r.windowMs)}, ${r.severity}, ${printable(r.action)}${r.enabled ? '' : ', disabled'}`);
  } else if (result.changes.length === 0) {
    out(`rule ${printable(r.id)}: nothing changed (it has those values already)`);
  } else {
    out([`updated rule ${printable(r.id)} (${state}):`, ...describeRuleChanges(result.changes).map((l) => `  ${l}`)].join('\n'));
  }
  if (values['block-for'] !== undefined && r.escalation.length) info(`note: ${r.id} escalates (${shown('escalation', r.escalation)}), so --block-for is not used; --escalation none uses it`);
  if (!result.applied) notApplied(id);
  return 0;
}

const SHORTHANDS: Record<'enable' | 'disable' | 'dry-run' | 'live', { done: (r: RuleView) => string; already: string }> = {
  enable: { done: () => 'enabled', already: 'is enabled already' },
  disable: { done: (r) => `disabled (it detects nothing until \`ipwatch rules enable ${r.id}\`)`, already: 'is disabled already' },
  'dry-run': { done: (r) => `now runs dry: it records what it detects and acts on nobody (live it would ${printable(describeAction({ ...r, mode: 'live' }))})`, already: 'runs dry already' },
  live: { done: (r) => `is live: ${printable(r.action)}`, already: 'is live already' },
};

async function shorthand(sub: keyof typeof SHORTHANDS, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  const id = idOf(positionals, sub);
  const result = await callApi<ChangeAnswer>('POST', rulePath(id, `/${sub}`), {});
  if (values.json) out(JSON.stringify(result));
  else {
    const r = result.rule;
    const what = result.changes.length ? SHORTHANDS[sub].done(r) : SHORTHANDS[sub].already;
    const off = !r.enabled && (sub === 'dry-run' || sub === 'live') ? `; note: it is disabled (\`ipwatch rules enable ${r.id}\`)` : '';
    out(`rule ${printable(r.id)} ${what}${off}`);
  }
  if (!result.applied) notApplied(id);
  return 0;
}

async function reset(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  const id = idOf(positionals, 'reset');
  const result = await callApi<ResetAnswer>('DELETE', rulePath(id));
  if (values.json) out(JSON.stringify(result));
  else if (result.reset === 'unchanged') out(`rule ${printable(id)} is as shipped already: nothing to reset`);
  else if (result.reset === 'deleted') out(`deleted custom rule ${printable(id)}`);
  else {
    const fields = result.changes.map((c) => (c.field.startsWith('params.') ? `param ${c.field.slice(7)}` : (LABELS[c.field] ?? c.field)));
    out(`reset rule ${printable(id)} to its default${fields.length ? ` (${fields.map(printable).join(', ')} as shipped again)` : ''}`);
  }
  if (!result.applied) notApplied(id);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) throw new UsageError(`say what to do: ${SUBCOMMANDS.join(', ')}\n\n${help}`);
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    const near = SUBCOMMANDS.find((s) => typo(s, sub));
    throw new UsageError(`unknown subcommand ${JSON.stringify(printable(sub.slice(0, 40)))}${near ? ` (did you mean ${near}?)` : ''}: it is one of ${SUBCOMMANDS.join(', ')}\n\n${help}`);
  }
  switch (sub as Subcommand) {
    case 'list':
      return list(rest);
    case 'show':
      return show(rest);
    case 'set':
      return set(rest);
    case 'reset':
      return reset(rest);
    default:
      return shorthand(sub as keyof typeof SHORTHANDS, rest);
  }
}
