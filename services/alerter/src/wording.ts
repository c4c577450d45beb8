/**
 * The wording every format of an alert shares: what was done ("blocked for 1h"), who ("37
 * addresses in network 203.0.113.0/24 (FR)"), the facts listed, the evidence rows in the order a
 * reader wants them, and the subject line. render.ts lays these out as text, HTML and Slack; the
 * values here are readable text, made safe with `inline`/`shown` but not yet escaped for HTML or
 * Slack.
 */
import type { Alert, AlertSubject } from './alert.ts';
import { cut, inline, oneLine, shown } from './safeText.ts';

/** Longest subject line (of an alert, a digest, a test). */
export const SUBJECT_MAX = 200;

/** A time in UTC, to the second when it has no milliseconds: "2026-12-01T10:00:00Z". */
export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** A span of time in at most two units: "1h", "1h 30m", "7d", "45s". */
export function humanDuration(ms: number): string {
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  let rest = Math.max(0, Math.round(ms / 1000) * 1000);
  if (rest === 0) return '0s';
  const parts: string[] = [];
  for (const [u, n] of units) {
    if (rest >= n && parts.length < 2) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    } else if (parts.length) break;
  }
  return parts.join(' ');
}

/** What was done, short (for the subject): "blocked for 1h", "blocked permanently", "flagged", "dry run: would have blocked". */
export function actionShort(a: Alert): string {
  if (a.action === 'flagged') return 'flagged';
  if (a.action === 'blocked') return a.blockedUntil === null ? 'blocked permanently' : `blocked for ${humanDuration(a.blockedUntil - a.ts)}`;
  return /would flag/.test(a.evidence.action ?? '') ? 'dry run: would have flagged' : 'dry run: would have blocked';
}

/** What was done, in full: "blocked until 2026-12-01T11:00:00Z (for 1h; offence 2)". */
function actionLong(a: Alert): string {
  const offence = a.evidence.offence && a.evidence.offence !== '1' ? `; offence ${inline(a.evidence.offence)}` : '';
  if (a.action === 'flagged') return 'flagged (not blocked)';
  if (a.action === 'blocked') {
    return a.blockedUntil === null ? `blocked permanently${offence ? ` (${offence.slice(2)})` : ''}` : `blocked until ${iso(a.blockedUntil)} (for ${humanDuration(a.blockedUntil - a.ts)}${offence})`;
  }
  const would = actionShort(a);
  const span = a.blockedUntil !== null && !/flagged$/.test(would) ? ` for ${humanDuration(a.blockedUntil - a.ts)}` : '';
  // The scorer's evidence names the rule's action: "dry run (records; would block 1h, then 4h)".
  const ladder = span ? null : /would (block [^)]*)/.exec(a.evidence.action ?? '')?.[1];
  return `${would}${span}${ladder ? ` (${inline(ladder)})` : ''}; the rule is in dry run: nothing was done`;
}

function asLabel(asn: number | null, org: string): string {
  if (asn === null && !org) return 'unknown';
  return [asn === null ? '' : `AS${asn}`, org].filter(Boolean).join(' ');
}

export function foldLabel(f: NonNullable<Alert['foldedBy']>): string {
  return f.by === 'asn' ? `ASN ${/^\d+$/.test(f.value) ? `AS${f.value}` : f.value}` : `network ${f.value}`;
}

/** The one country of all subjects, or '' when unknown or mixed. */
function commonCountry(subjects: AlertSubject[]): string {
  const first = subjects[0]?.country ?? '';
  return subjects.every((s) => s.country === first) ? first : '';
}

/** Who, short: "203.0.113.7 (FR)" or "37 addresses in network 203.0.113.0/24 (FR)". */
export function whoShort(a: Alert): string {
  const country = commonCountry(a.subjects);
  const suffix = country ? ` (${inline(country)})` : '';
  const first = a.subjects[0];
  if (a.subjects.length === 1 && first) return `${inline(first.client)}${suffix}`;
  const fold = a.foldedBy ? ` of ${foldLabel(a.foldedBy)}` : '';
  return `${a.subjects.length} addresses${fold}${suffix}`;
}

/** Evidence keys in the order a reader wants them, with their labels; keys said elsewhere in the alert are left out. */
const EVIDENCE_ORDER: Array<[string, string]> = [
  ['account', 'account attacked'],
  ['trigger', 'trigger'],
  ['samples', 'sample requests'],
  ['userAgents', 'user agents'],
  ['statuses', 'statuses'],
  ['usernames', 'usernames'],
  ['clients', 'clients taking part'],
  ['crawlerClaim', 'crawler claim'],
  ['alreadyBlocked', 'already blocked'],
  ['scoredAs', 'scored as'],
  ['since', 'since'],
  ['figure', 'figure'],
];
/** Evidence values that hold one item a line. */
const MULTI_LINE = new Set(['samples', 'userAgents', 'usernames', 'clients']);

export interface EvidenceRow {
  key: string;
  label: string;
  /** One entry per line for multi-line values; one entry otherwise. */
  lines: string[];
  multi: boolean;
}

export function evidenceRows(a: Alert): EvidenceRow[] {
  const first = a.subjects[0];
  const skip = new Set(['summary', 'action', 'offence']);
  // Said in the Network and AS lines when the subject knows them.
  if (first?.country) skip.add('country');
  if (first?.asn !== null && first?.asn !== undefined) skip.add('asn');
  if (first?.org) skip.add('org');
  const known = new Map(EVIDENCE_ORDER);
  const keys = [...EVIDENCE_ORDER.map(([k]) => k).filter((k) => k in a.evidence), ...Object.keys(a.evidence).filter((k) => !known.has(k)).sort()];
  const rows: EvidenceRow[] = [];
  for (const key of keys) {
    if (skip.has(key)) continue;
    const value = a.evidence[key];
    // A manual block's reason is its summary already.
    if (value === undefined || value === '' || value === a.summary) continue;
    const multi = MULTI_LINE.has(key);
    const lines = multi ? cut(value).replace(/\r\n?/g, '\n').split('\n').map(shown) : [inline(cut(value))];
    rows.push({ key, label: known.get(key) ?? key, lines, multi });
  }
  return rows;
}

export interface Fact {
  label: string;
  value: string;
}

/** The facts every format lists, as readable text (not yet escaped for HTML or Slack). */
export function facts(a: Alert): Fact[] {
  const first = a.subjects[0] as AlertSubject;
  const out: Fact[] = [];
  if (a.subjects.length === 1) {
    out.push({ label: 'Client', value: inline(first.client) + (first.ip !== first.client ? ` (request from ${inline(first.ip)})` : '') });
    out.push({ label: 'Network', value: `${inline(first.network)} (${first.country ? inline(first.country) : 'country unknown'})` });
    out.push({ label: 'AS', value: inline(asLabel(first.asn, first.org)) });
  } else {
    out.push({ label: 'Clients', value: `${a.subjects.length} addresses${a.foldedBy ? `, folded by ${inline(foldLabel(a.foldedBy))}` : ''} (listed below)` });
  }
  out.push({ label: 'Rule', value: inline(a.rule) });
  out.push({ label: 'Severity', value: a.severity });
  out.push({ label: 'Action', value: actionLong(a) });
  out.push({ label: 'Summary', value: inline(a.summary) });
  out.push({ label: 'When', value: iso(a.ts) });
  if (a.kind === 'block') out.push({ label: 'By', value: inline(a.actor) });
  return out;
}

/** The mail subject: "[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) blocked for 1h". */
export function subjectLine(a: Alert): string {
  return oneLine(`[ipwatch] ${a.severity.toUpperCase()} ${a.rule}: ${whoShort(a)} ${actionShort(a)}`, SUBJECT_MAX);
}

/** One address of a folded alert, as a row: client, country, AS. */
export function subjectRow(s: AlertSubject): string[] {
  return [inline(s.client), s.country ? inline(s.country) : '--', inline(asLabel(s.asn, s.org))];
}
