import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { loadConfig, type IpwatchConfig } from '@ipwatch/core/config';
import { parseBlockTarget } from '@ipwatch/core/blockTarget';
import { parseSubject, type PrivacySubject, type SubjectInput } from '@ipwatch/core/dataSubject';
import { formatIp, mask, parseIp } from '@ipwatch/core/ip';
import { exportToCsv, type AuditEntry, type ErasureReport, type PrivacyExport, type Remaining } from '@ipwatch/store';
import { apiRequest, ApiUnreachable } from '../apiClient.ts';
import { out, info, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';
import { actor } from './listCommon.ts';

export const help = `ipwatch privacy export <ip|cidr> | --user ID [--format json|csv] [--out FILE] [--force]
ipwatch privacy erase <ip|cidr> | --user ID [--force] [--yes]
ipwatch privacy audit [--limit N] [--action export|erase|query] [--json]
ipwatch privacy pending
  A data subject's request: everything ipwatch stores about an address, a range of addresses
  or a user id, exported or erased, through the running api (npm start, or the api service).
  export   every row of every table about it (requests, rate-limit refusals, detections, block
           history) with what each field means, and what Redis holds (rate-limit counters,
           alerts sent); to stdout, or to --out FILE (created readable by you only). A summary
           (rows per table, the audit id) goes to stderr.
  erase    removes it from every table, rebuilds the rollup buckets that counted it, forgets
           its Redis keys and the api's geolocation cache, then says what ipwatch cannot remove
           now and until when (events in the topics, the scorer's memory, a block in force).
           Asks for confirmation on a terminal; elsewhere (CI, a pipe) give --yes. Running it
           again finishes an erasure that was interrupted.
  audit    the audit log of exports and erasures: when, who, what kind of subject, how many
           rows; it never holds the address or user id (file the audit id with the request)
  pending  erasures that stopped half-way (a crash): erase each again to finish it
  --user ID        a user id exactly as the app reports it, instead of an address
  --force          take a range wider than IPWATCH_ERASE_MAX_PREFIX_V4/_V6 (/24, /48 by default)
  --format F       json (default) or csv: one line per field of a row (table,row,field,value,meaning)
  --out FILE       write the export there instead of stdout
  --yes            erase without asking
  --limit N        audit entries listed (default 50, at most 10000)
  --json           the audit log as the api answers it
  Examples:
    ipwatch privacy export 203.0.113.7 --format csv --out request-2026-12-01.csv
    ipwatch privacy erase 203.0.113.7
    ipwatch privacy erase --user alice@example.com --yes`;

const SUBCOMMANDS = ['export', 'erase', 'audit', 'pending'] as const;
/** An erasure waits for ClickHouse's mutations: far longer than a read. */
const ERASE_TIMEOUT_MS = 30 * 60_000;
const EXPORT_TIMEOUT_MS = 10 * 60_000;

/** Calls the api; when it is not running, says how to start it. */
async function callApi<T>(config: Readonly<IpwatchConfig>, method: 'GET' | 'POST' | 'DELETE', path: string, options: { query?: Record<string, string | undefined>; body?: unknown; timeoutMs?: number } = {}): Promise<T> {
  try {
    return await apiRequest<T>(config, method, path, options);
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    const erasing = path.endsWith('/erase') ? ' If the erasure was under way, run the same command again once the api answers: it finishes it.' : '';
    throw new ApiUnreachable(
      `${err.message}. Exports and erasures are made by the api: start ipwatch (\`npm start\`) or the api service (\`ipwatch run api\`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it.${erasing}`,
      { cause: err },
    );
  }
}

/** Local date and time, with the zone: what an operator tells a data subject. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())} ${Intl.DateTimeFormat().resolvedOptions().timeZone}`;
}

/** Whom the command is about: the one positional address or range, or --user. */
function subjectInput(positionals: string[], user: string | undefined, usage: string): SubjectInput {
  if (positionals.length > 1) throw new UsageError(`one address or range at a time (${positionals.length} given): ${usage}`);
  const ip = positionals[0];
  if (ip !== undefined && user !== undefined) throw new UsageError(`give an address or --user, not both: ${usage}`);
  if (ip === undefined && user === undefined) throw new UsageError(`say whom it is about: an address or a range (203.0.113.7, 203.0.113.0/24), or --user ID: ${usage}`);
  return ip !== undefined ? { ip } : { user: user! };
}

/** The subject checked here first (same guard as the api's), so a typo is refused before anything is asked. */
function checkSubject(config: Readonly<IpwatchConfig>, input: SubjectInput, force: boolean): PrivacySubject {
  return parseSubject(input, { maxPrefixV4: config.privacy.eraseMaxPrefixV4, maxPrefixV6: config.privacy.eraseMaxPrefixV6 }, force);
}

const named = (s: PrivacySubject) => (s.kind === 'user' ? `user ${printable(JSON.stringify(s.text))}` : s.text);

/**
 * Nothing found about one address: an app that truncates addresses stored its network (its /24
 * or /48 by default), one that hashes them a pseudonym; said, so that "nothing" is not taken
 * for an answer when the rows are stored under another name.
 */
function nothingFound(s: PrivacySubject): string {
  if (s.kind !== 'ip') return `nothing stored about ${named(s)}`;
  const ip = parseIp(s.text)!;
  const bits = ip.version === 4 ? 24 : 48;
  const network = `${formatIp({ version: ip.version, value: ip.value & mask(ip.version, bits) })}/${bits}`;
  return `nothing stored about ${s.text} (an app that truncates addresses stores its network instead: ask for ${network}, which covers its neighbours too; one that hashes them, the pseudonym)`;
}

/** Aligned "name  n" lines. */
function counts(entries: Array<[string, number]>, indent = '  '): string[] {
  const width = Math.max(0, ...entries.map(([k]) => printable(k).length));
  return entries.map(([k, n]) => `${indent}${printable(k).padEnd(width)}  ${String(n).padStart(7)}`);
}

async function exportCommand(config: Readonly<IpwatchConfig>, argv: string[]): Promise<number> {
  const usage = 'ipwatch privacy export <ip|cidr> | --user ID [--format json|csv] [--out FILE] [--force]';
  const { values, positionals } = parseArgsOnce(argv, { user: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, true);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new UsageError(`--format ${JSON.stringify(format.slice(0, 20))} must be json or csv`);
  const input = subjectInput(positionals, values.user, usage);
  const subject = checkSubject(config, input, values.force === true);
  // The CSV is made here from the JSON: one export, one audit entry, and the summary below.
  const e = await callApi<PrivacyExport>(config, 'POST', '/api/v1/privacy/export', { body: { ...input, ...(values.force && { force: true }), format: 'json' }, timeoutMs: EXPORT_TIMEOUT_MS });
  const text = format === 'csv' ? exportToCsv(e) : `${JSON.stringify(e, null, 2)}\n`;
  if (values.out !== undefined) writeFileSync(values.out, text, { mode: 0o600 });
  else process.stdout.write(text);

  const held = e.held.reduce((n, h) => n + h.items.length, 0);
  if (e.total === 0 && held === 0) {
    info(`${nothingFound(subject)}; audit id ${e.auditId}`);
    return 0;
  }
  info(`export of ${named(subject)}: ${e.total} row(s) in ClickHouse${held ? `, ${held} entr${held === 1 ? 'y' : 'ies'} elsewhere` : ''}`);
  for (const l of counts(e.tables.map((t) => [t.table, t.rows.length]))) info(l);
  if (held) {
    info('Held outside ClickHouse:');
    for (const h of e.held) {
      if (h.items.length === 0) continue;
      info(`  ${printable(h.place)}: ${h.items.length}`);
      for (const item of h.items.slice(0, 10)) info(`    ${printable(item.kind)} ${printable(item.name).slice(0, 100)}${item.expiresAt === null ? '' : ` (until ${localTime(item.expiresAt)})`}`);
      if (h.items.length > 10) info(`    ... and ${h.items.length - 10} more (in the export)`);
    }
  }
  if (values.out !== undefined) info(`written to ${printable(values.out)} (${format})`);
  info(`audit id ${e.auditId}: file it with the request`);
  return 0;
}

/** Asks a yes/no question on the terminal (stderr); anything but y or yes is no. */
async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}

const interactive = () => process.stdin.isTTY === true && !process.env.CI;

/** The target a block in force names in its action (`ipwatch unblock <target>`), checked as a target. */
function blockTarget(r: Remaining): string | null {
  const m = /`ipwatch unblock ([^`\s]+)`/.exec(r.action ?? '');
  if (!m) return null;
  try {
    parseBlockTarget(m[1]!);
    return m[1]!;
  } catch {
    return null;
  }
}

function printRemaining(remaining: Remaining[]): void {
  if (remaining.length === 0) return;
  out('What ipwatch cannot remove now:');
  for (const r of remaining) {
    out(`  ${printable(r.place)}: ${printable(r.what)}`);
    out(`    ${r.until === null ? 'stays until someone acts' : `until ${localTime(r.until)}`}`);
    if (r.action) out(`    ${printable(r.action)}`);
  }
}

function printReport(r: ErasureReport, subject: PrivacySubject): void {
  out(`erased ${named(subject)}${r.resumed ? ' (this run finished an erasure that had stopped half-way)' : ''}`);
  out('Rows removed:');
  for (const l of counts(Object.entries(r.removed))) out(l);
  const scrubbed = Object.entries(r.scrubbed);
  if (scrubbed.length) {
    out('Rows kept with the subject cleared from them (another client\'s login naming this user):');
    for (const l of counts(scrubbed)) out(l);
  }
  out(`Rollup buckets rebuilt without it: ${r.rebuilt.minutes} one-minute, ${r.rebuilt.fiveMinutes} five-minute, ${r.rebuilt.hours} one-hour`);
  const forgotten = Object.entries(r.forgotten);
  out(forgotten.length ? 'Forgotten outside ClickHouse:' : 'Forgotten outside ClickHouse: nothing held (no Redis configured, no cache of this api holding it)');
  for (const l of counts(forgotten)) out(l);
  printRemaining(r.remaining);
}

async function eraseCommand(config: Readonly<IpwatchConfig>, argv: string[]): Promise<number> {
  const usage = 'ipwatch privacy erase <ip|cidr> | --user ID [--force] [--yes]';
  const { values, positionals } = parseArgsOnce(argv, { user: { type: 'string' }, force: { type: 'boolean' }, yes: { type: 'boolean' } }, true);
  const input = subjectInput(positionals, values.user, usage);
  const subject = checkSubject(config, input, values.force === true);
  const again = `ipwatch privacy erase ${input.ip !== undefined ? printable(input.ip) : `--user ${printable(JSON.stringify(input.user))}`}${values.force ? ' --force' : ''}`;
  const asking = values.yes !== true;
  if (asking) {
    if (!interactive()) throw new UsageError(`an erasure cannot be undone, so it is confirmed on a terminal; here (no terminal, or CI) give --yes: ${again} --yes`);
    info(`This erases everything ipwatch stores about ${named(subject)}${subject.kind === 'cidr' ? ' (every address of the range)' : ''}:`);
    info(
      subject.kind === 'user'
        ? '  its requests and rate-limit refusals; its name is cleared from other clients\' logins and detections; its Redis rate-limit counters.'
        : '  its requests, rate-limit refusals, detections and block history; the rollup buckets that counted it are rebuilt; its Redis rate-limit counters and alert records, and the api\'s geolocation cache entry.',
    );
    info('It cannot be undone. `ipwatch privacy export` first if the data subject asked for a copy.');
    if (!(await ask(`Erase ${named(subject)}? [y/N] `))) {
      info('nothing erased');
      return 1;
    }
  }
  const body = { ...input, ...(values.force && { force: true }) };
  const report = await callApi<ErasureReport>(config, 'POST', '/api/v1/privacy/erase', { body, timeoutMs: ERASE_TIMEOUT_MS });
  const lists = report.remaining.filter((r) => r.place === 'the block list' || r.place === 'the allowlist');
  if (report.nothingFound) {
    out(nothingFound(subject));
    printRemaining(lists);
  } else {
    printReport(report, subject);
  }
  out(`audit id ${report.auditId}: file it with the request`);
  if (!report.nothingFound) out(`If this erasure was interrupted (a crash, a timeout), run it again: ${again} --yes finishes it.`);

  // A block in force stays unless the operator lifts it: offered here, on a terminal.
  if (asking && interactive()) {
    let lifted = 0;
    for (const r of report.remaining.filter((x) => x.place === 'the block list')) {
      const target = blockTarget(r);
      if (target === null || !(await ask(`Lift the block of ${printable(target)} now? [y/N] `))) continue;
      await callApi(config, 'DELETE', '/api/v1/blocks', { query: { target, reason: 'lifted with a privacy erasure', actor: actor() } });
      out(`unblocked ${printable(target)}`);
      lifted++;
    }
    if (lifted > 0) {
      // The unblock is itself a row of the block history: a second pass removes it.
      const second = await callApi<ErasureReport>(config, 'POST', '/api/v1/privacy/erase', { body, timeoutMs: ERASE_TIMEOUT_MS });
      out(`the unblock's record in the block history erased too (audit id ${second.auditId})`);
    }
  }
  return 0;
}

/** The rows an audit entry counts in ClickHouse and elsewhere, as one figure. */
const rowsOf = (e: AuditEntry) => Object.values(e.rows).reduce((n, x) => n + x, 0);

async function auditCommand(config: Readonly<IpwatchConfig>, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(argv, { limit: { type: 'string' }, action: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length) throw new UsageError(`ipwatch privacy audit takes no address (the log holds none): ipwatch privacy audit [--limit N] [--action export|erase|query] [--json]`);
  const limit = values.limit ?? '50';
  if (!/^\d{1,5}$/.test(limit) || Number(limit) < 1 || Number(limit) > 10_000) throw new UsageError(`--limit ${JSON.stringify(limit.slice(0, 20))} must be a whole number from 1 to 10000`);
  const { rows } = await callApi<{ rows: AuditEntry[] }>(config, 'GET', '/api/v1/privacy/audit', { query: { limit, action: values.action } });
  if (values.json) {
    out(JSON.stringify(rows));
    return 0;
  }
  if (rows.length === 0) {
    out('the privacy audit log is empty: no export or erasure yet');
    return 0;
  }
  const lines = rows.map((e) => [localTime(e.ts), printable(e.actor).slice(0, 40), e.action, printable(e.subjectKind).slice(0, 10), e.subjectKind === 'ip' || e.subjectKind === 'cidr' ? `/${e.subjectBits}` : '', e.outcome, String(rowsOf(e)), e.id]);
  const header = ['WHEN', 'WHO', 'ACTION', 'SUBJECT', 'BITS', 'OUTCOME', 'ROWS', 'AUDIT ID'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : i === 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  out(fmt(header));
  for (const l of lines) out(fmt(l));
  return 0;
}

async function pendingCommand(config: Readonly<IpwatchConfig>, argv: string[]): Promise<number> {
  parseArgsOnce(argv, {});
  const { rows } = await callApi<{ rows: Array<{ id: string; startedAt: number; actor: string; subject: string }> }>(config, 'GET', '/api/v1/privacy/pending');
  if (rows.length === 0) {
    out('no erasure under way or stopped half-way');
    return 0;
  }
  out('Erasures stopped half-way (or running now); run each again to finish it:');
  for (const r of rows) {
    const [kind, ...rest] = r.subject.split(':');
    const what = rest.join(':');
    const command = kind === 'user' ? `ipwatch privacy erase --user ${JSON.stringify(what)} --yes` : `ipwatch privacy erase ${what} --yes`;
    out(`  ${localTime(r.startedAt)}  by ${printable(r.actor).slice(0, 40)}  audit id ${r.id}`);
    out(`    ${printable(command)}${what.includes('/') ? ' (add --force for a range wider than the guard)' : ''}`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`${sub === undefined ? 'say what to do' : `unknown subcommand ${JSON.stringify(sub.slice(0, 20))}`}: ${SUBCOMMANDS.join(', ')} (ipwatch privacy --help)`);
  }
  const config = loadConfig();
  switch (sub as (typeof SUBCOMMANDS)[number]) {
    case 'export':
      return exportCommand(config, rest);
    case 'erase':
      return eraseCommand(config, rest);
    case 'audit':
      return auditCommand(config, rest);
    case 'pending':
      return pendingCommand(config, rest);
  }
}
