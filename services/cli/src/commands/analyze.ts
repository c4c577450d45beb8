import { loadConfig } from '@ipwatch/core/config';
import { refusePort } from '@ipwatch/core/blockTarget';
import { formatIp, parseIp, InvalidAddressError } from '@ipwatch/core/ip';
import { FilterError, type ClientAnalysis, type DetectionRow } from '@ipwatch/store';
import { apiGet, ApiUnreachable } from '../apiClient.ts';
import { out, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch analyze <ip> [--hours 24] [--json]
  Everything ipwatch knows about one client over the last N hours (1 to 720, the current
  hour included): whether it is blocked now and why, its traffic and errors, where it is,
  requests per hour, top paths and user agents, sensitive paths it asked for, logins,
  rate-limit refusals, detections with their evidence, and every block or allowlist change
  that concerned it. An IPv6 address is analysed with its /64, as the scorer scores it.
  Asks the running api (npm start, or the api service).
  --hours N  the last N hours (default 24)
  --json     the api's answer as JSON, text exactly as stored`;

const MAX_HOURS = 720;
/** The report fits a terminal of this many columns. */
const WIDTH = 80;
/** At most this many lines of bars: a longer range is folded into buckets of several hours. */
const MAX_BAR_LINES = 48;

interface Entry {
  target: string;
  source: string | null;
  by: 'rule' | 'person';
  reason: string;
  severity: string | null;
  since: number;
  until: number | null;
  createdBy: string;
  evidence: DetectionRow | null;
}

/** What GET /api/clients/:ip/analysis answers (services/api/src/analysis.ts). */
export type AnalysisAnswer = ClientAnalysis & { generatedAt: number; blockedNow: { blocked: boolean; blocks: Entry[]; allowlisted: Entry[] } | null };

/** Attacker-controlled or stored text, made safe for the terminal and cut to `max` columns. */
function safe(text: unknown, max = WIDTH): string {
  const shown = printable(String(text ?? ''));
  const chars = [...shown];
  return chars.length <= max ? shown : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** A line of the report: cut to the terminal's 80 columns if its fields together are longer (each is bounded already). */
function say(line = ''): void {
  out(safe(line, WIDTH));
}

const minute = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const second = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
const num = (n: number) => String(n).padStart(6);

function heading(title: string): void {
  say('');
  say(title);
}

/** Who set an entry: the rule, or the person (and how: manual, import). */
function author(e: Entry): string {
  return e.by === 'rule' ? `rule ${safe(e.source, 40)}` : `${safe(e.createdBy, 40)}${e.source ? ` (${safe(e.source, 20)})` : ''}`;
}

export function verdict(a: AnalysisAnswer): string {
  const now = a.blockedNow;
  if (now === null) return 'block status unknown (this api runs without the block list)';
  const of = (e: Entry) => (e.target === a.ip ? '' : ` (block of ${safe(e.target, 45)})`);
  const top = now.blocks[0];
  if (now.allowlisted.length > 0) {
    const allow = now.allowlisted[0]!;
    return `ALLOWLISTED by ${safe(allow.createdBy, 40)} (${safe(allow.target, 45)})${top ? `: ${now.blocks.length} block(s) covering it do not apply` : ''}`;
  }
  if (!top) return 'not blocked';
  return `BLOCKED ${top.until === null ? '(never expires)' : `until ${minute(top.until)}`} by ${author(top)}${of(top)}`;
}

export function detectionLines(d: DetectionRow, indent: string): string[] {
  const lines = [`${indent}${second(d.ts)}  ${safe(d.rule, 30)} ${safe(d.severity, 10)}${d.mode === 'live' ? '' : ` ${safe(d.mode, 10)}`} -> ${safe(d.action, 10)}`];
  lines.push(`${indent}  ${d.count} > ${d.threshold} in ${minute(d.windowStart).slice(11, 16)}-${minute(d.windowEnd).slice(11)}${d.offence > 1 ? `, offence ${d.offence}` : ''}`);
  const client = d.client && d.client !== d.ip ? ` of ${safe(d.client, 45)}` : '';
  lines.push(`${indent}  ip ${safe(d.ip, 45)}${client}`);
  if (d.action === 'block') lines.push(`${indent}  block ${d.blockExpiresAt === null ? 'never expires' : `until ${minute(d.blockExpiresAt)}`}`);
  for (const [k, v] of Object.entries(d.evidence ?? {}).slice(0, 20)) {
    // Samples, user agents, usernames, clients: one a line, each made safe on its own.
    const items = v.split('\n');
    if (items.length === 1) {
      lines.push(`${indent}  ${safe(k, 24)}: ${safe(v, WIDTH - indent.length - 30)}`);
      continue;
    }
    lines.push(`${indent}  ${safe(k, 24)}:`);
    for (const item of items.slice(0, 10)) lines.push(`${indent}    ${safe(item, WIDTH - indent.length - 6)}`);
    if (items.length > 10) lines.push(`${indent}    ... ${items.length - 10} more`);
  }
  return lines;
}

function blockedNowSection(a: AnalysisAnswer): void {
  const now = a.blockedNow;
  if (now === null || (now.blocks.length === 0 && now.allowlisted.length === 0)) return;
  heading('Blocked now');
  const period = (e: Entry) => `    since ${minute(e.since)}, ${e.until === null ? 'never expires' : `until ${minute(e.until)}`}`;
  for (const e of now.blocks) {
    say(`  block ${safe(e.target, 45)} by ${author(e)}`);
    say(period(e));
    if (e.reason) say(`    reason: ${safe(e.reason, WIDTH - 12)}`);
    if (e.by !== 'rule') continue;
    if (e.evidence) {
      say('    caused by the detection:');
      for (const l of detectionLines(e.evidence, '      ')) say(l);
    } else {
      say(`    no stored detection of rule ${safe(e.source, 30)} blocking ${safe(e.target, 45)}`);
    }
  }
  for (const e of now.allowlisted) {
    say(`  allowlisted ${safe(e.target, 45)} by ${safe(e.createdBy, 40)}`);
    say(period(e));
    if (e.reason) say(`    reason: ${safe(e.reason, WIDTH - 12)}`);
  }
}

/** ASCII bars, one line per bucket of hours: '=' requests answered fine, '#' errors. */
export function hourBars(hourly: AnalysisAnswer['hourly']): string[] {
  const per = Math.max(1, Math.ceil(hourly.length / MAX_BAR_LINES));
  const buckets: Array<{ hour: number; requests: number; errors: number }> = [];
  for (let i = 0; i < hourly.length; i += per) {
    const group = hourly.slice(i, i + per);
    buckets.push({ hour: group[0]!.hour, requests: group.reduce((s, h) => s + h.requests, 0), errors: group.reduce((s, h) => s + h.errors, 0) });
  }
  const max = Math.max(1, ...buckets.map((b) => b.requests));
  const label = (ms: number) => new Date(ms).toISOString().slice(5, 16).replace('T', ' ');
  // "  11-30 19:00  " (15) + bar + "  " + counts (up to 22): the bar gets the rest of 80 columns.
  const barWidth = WIDTH - 15 - 2 - 22;
  const lines = [per === 1 ? 'Requests per hour (UTC; = answered, # errors)' : `Requests per ${per} hours (UTC; = answered, # errors)`];
  for (const b of buckets) {
    const width = b.requests === 0 ? 0 : Math.max(1, Math.round((b.requests / max) * barWidth));
    const errors = b.requests === 0 ? 0 : Math.min(width, Math.round((b.errors / b.requests) * width)) || (b.errors > 0 ? 1 : 0);
    const bar = '#'.repeat(errors) + '='.repeat(Math.max(0, width - errors));
    lines.push(`  ${label(b.hour)}  ${bar.padEnd(barWidth)}  ${String(b.requests).padStart(7)}${b.errors ? ` (${b.errors} err)` : ''}`.trimEnd());
  }
  return lines;
}

/** The report, on stdout. Every string from a request, a geo provider, a rule or a person goes through printable(). */
export function report(a: AnalysisAnswer): void {
  const t = a.traffic;
  say(`${a.ip}: ${verdict(a)}`);
  say(`last ${a.range.hours} hour${a.range.hours === 1 ? '' : 's'}: ${minute(a.range.since)} to ${minute(a.range.until)}`);
  if (a.scope.kind === 'network/64') {
    say(`IPv6: the figures are for ${safe(a.scope.client, 45)}, the scorer's client:`);
    say(`  ${t.addresses} address${t.addresses === 1 ? '' : 'es'} seen, ${t.requestsFromAddress} of ${t.requests} requests from ${a.ip} itself`);
  }
  blockedNowSection(a);

  heading('Traffic');
  if (t.requests === 0) {
    say('  no requests in this range');
  } else {
    const classes = Object.entries(t.statusClasses).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(', ');
    say(`  ${t.requests} requests, ${t.errors} errors (${percent(t.errorRate ?? 0)} 4xx/5xx): ${classes}`);
    say(`  first seen ${second(t.firstSeen!)}, last seen ${second(t.lastSeen!)}`);
    if (t.blocked || t.rateLimited) say(`  answered by ipwatch: ${t.blocked} blocked (403), ${t.rateLimited} rate-limited (429)`);
  }

  heading('Geolocation');
  const g = a.geo;
  if (g === null) say('  unknown (no request in range had a geolocation)');
  else {
    const place = [g.country, g.region, g.city].filter(Boolean).map((s) => safe(s, 30)).join(', ') || 'place unknown';
    const network = g.asn || g.org ? `, AS${g.asn}${g.org ? ` ${safe(g.org, 40)}` : ''}` : '';
    say(`  ${place}${network} (as of ${minute(g.seenAt)})`);
  }

  if (t.requests > 0) {
    const [title, ...bars] = hourBars(a.hourly);
    heading(title!);
    for (const l of bars) say(l);
  }

  heading(`Top paths (${a.topPaths.length})`);
  if (a.topPaths.length === 0) say('  none');
  for (const p of a.topPaths) say(`  ${num(p.requests)} ${p.errors ? `${String(p.errors).padStart(5)} err` : '         '}  ${safe(p.path, WIDTH - 20)}`);

  heading(`User agents (${a.userAgents.length})`);
  if (a.userAgents.length === 0) say('  none');
  for (const u of a.userAgents) say(`  ${num(u.requests)}  ${safe(u.userAgent || '(none)', WIDTH - 10)}`);

  const s = a.sensitivePaths;
  heading(`Sensitive paths (rules ${s.rules.map((x) => safe(x, 30)).join(', ')})`);
  if (s.paths.length === 0) say(`  none among the ${s.pathsExamined} distinct paths examined`);
  else {
    say(`  ${s.requests} requests matched`);
    for (const r of s.byRule) if (r.requests > 0) say(`  ${num(r.requests)}  ${safe(r.rule, 30)} (${r.paths} path${r.paths === 1 ? '' : 's'})`);
    for (const p of s.paths) say(`  ${num(p.requests)}  ${safe(p.path, 40)}  ${p.rules.map((x) => safe(x, 30)).join(', ')}`);
  }
  if (s.truncated) say(`  (only the ${s.pathsExamined} most requested paths were examined)`);

  heading('Logins');
  const l = a.logins;
  if (l.failed === 0 && l.succeeded === 0) say('  no login attempts');
  else {
    say(`  ${l.failed} failed, ${l.succeeded} succeeded; ${l.distinctUsernames} username${l.distinctUsernames === 1 ? '' : 's'} in failed attempts`);
    for (const u of l.usernames) say(`  ${num(u.failed)}  ${safe(u.username, WIDTH - 10)}`);
  }

  heading('Rate limits');
  const r = a.rateLimits;
  if (r.refusals === 0) say('  no refusals');
  else {
    say(`  ${r.refusals} requests refused (${r.events} event${r.events === 1 ? '' : 's'})`);
    for (const x of r.byRule) say(`  ${num(x.refusals)}  ${safe(x.rule, 20)} (limit ${x.limit} per ${Math.round(x.windowMs / 1000)}s), last ${minute(x.last)}`);
  }

  heading(`Detections (${a.detections.total}${a.detections.total > a.detections.rows.length ? `, the latest ${a.detections.rows.length} shown` : ''})`);
  if (a.detections.rows.length === 0) say('  none');
  for (const d of a.detections.rows) for (const line of detectionLines(d, '  ')) say(line);

  heading(`Block history (${a.blockHistory.rows.length}${a.blockHistory.truncated ? ', the latest; more exist' : ''})`);
  if (a.blockHistory.rows.length === 0) say('  none');
  for (const e of a.blockHistory.rows) {
    const until = e.action === 'block' || e.action === 'allow' ? (e.expires_at === null ? ' never expires' : ` until ${minute(e.expires_at)}`) : '';
    say(`  ${second(e.ts)}  ${safe(e.action, 8).padEnd(7)} ${safe(e.target, 45)}`);
    say(`    by ${safe(e.actor, 30)} (${safe(e.source, 20)})${until}`);
    if (e.reason) say(`    reason: ${safe(e.reason, WIDTH - 12)}`);
  }
}

/** One address, as the api takes it; refused here too, with the api's message, so nothing is asked in vain. */
export function address(text: string | undefined): string {
  if (text === undefined) throw new UsageError('say which IP address: ipwatch analyze <ip> [--hours 24] [--json]');
  refusePort(text);
  const ip = /[[\]%/]/.test(text) ? null : parseIp(text);
  if (ip === null) throw new InvalidAddressError(`${JSON.stringify(text.slice(0, 64))} is not an IP address: analyse one address, e.g. 203.0.113.7 (an IPv6 address is analysed with its /64)`);
  return formatIp(ip);
}

/** --hours: a whole number from 1 to 720, default 24. */
export function hoursOf(text = '24'): number {
  const hours = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(hours >= 1 && hours <= MAX_HOURS)) throw new FilterError(`--hours ${JSON.stringify(text.slice(0, 20))} must be a whole number from 1 to ${MAX_HOURS} (the last N hours, the current one included)`);
  return hours;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(argv, { hours: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length > 1) throw new UsageError(`one address at a time (${positionals.slice(0, 3).map((p) => JSON.stringify(p.slice(0, 40))).join(', ')} given)`);
  const ip = address(positionals[0]);
  const hours = hoursOf(values.hours);
  const config = loadConfig();
  let answer: AnalysisAnswer;
  try {
    answer = await apiGet<AnalysisAnswer>(config, `/api/v1/clients/${encodeURIComponent(ip)}/analysis`, { hours: String(hours) });
  } catch (err) {
    if (!(err instanceof ApiUnreachable)) throw err;
    throw new ApiUnreachable(`${err.message}. The analysis is made by the api: start ipwatch (\`npm start\`) or the api service (\`ipwatch run api\`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it.`, { cause: err });
  }
  if (values.json) {
    out(JSON.stringify(answer));
    return 0;
  }
  report(answer);
  return 0;
}
