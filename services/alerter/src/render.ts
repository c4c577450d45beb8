/**
 * How an alert looks, in every format a channel carries: an email subject, a plain-text part,
 * a complete HTML document for mail clients, the signed webhook's JSON payload, and Slack
 * mrkdwn. One function per message kind (an alert, a digest of folded alerts, a test), each
 * returning all formats at once, so every channel says the same thing.
 *
 * Evidence (paths, user agents, usernames), org names and rule reasons are attacker-controlled
 * or may be: in HTML every such string goes through `escapeHtml` (attributes too, and the
 * dashboard link must be http(s) or it is dropped); in Slack through `slackEscape` (no forged
 * `<!channel>`, `<@U123>` or `<http://x|y>` links, no escape from a code span); in the text part
 * and HTML, characters a reader would not see as themselves become U+FFFD, and a line break
 * inside a one-line field shows as `\n`, so evidence cannot forge a line of the alert. In JSON
 * everything is plain data, exactly as detected.
 */
import { hostname } from 'node:os';
import type { Severity } from '@ipwatch/core/schemas';
import type { Alert, AlertSubject, ChannelName, Digest, Rendered } from './alert.ts';
import { cut, escapeHtml, inline, oneLine, safeUrl, shown, slackEscape } from './safeText.ts';
import { FONT, MONO, TD, TH, htmlDocument, htmlFacts, htmlGrid, htmlHeading, htmlLink, htmlMore } from './mailHtml.ts';

export { escapeHtml, oneLine, slackEscape } from './safeText.ts';
export type { AlertPayload, DigestPayload, TestPayload } from './payloads.ts';
import type { AlertPayload, DigestPayload, TestPayload } from './payloads.ts';

/** Addresses of a folded alert (and alerts of a digest) listed in text, HTML and Slack; JSON lists all. */
export const LIST_MAX = 50;
const SUBJECT_MAX = 200;

// ---------------------------------------------------------------------------------------------
// Wording shared by the formats

const SEVERITY_COLOUR: Record<Severity, string> = { low: '#0969da', medium: '#9a6700', high: '#cf222e', critical: '#82071e' };

function iso(ms: number): string {
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
function actionShort(a: Alert): string {
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

function foldLabel(f: NonNullable<Alert['foldedBy']>): string {
  return f.by === 'asn' ? `ASN ${/^\d+$/.test(f.value) ? `AS${f.value}` : f.value}` : `network ${f.value}`;
}

/** The one country of all subjects, or '' when unknown or mixed. */
function commonCountry(subjects: AlertSubject[]): string {
  const first = subjects[0]?.country ?? '';
  return subjects.every((s) => s.country === first) ? first : '';
}

/** Who, short: "203.0.113.7 (FR)" or "37 addresses in network 203.0.113.0/24 (FR)". */
function whoShort(a: Alert): string {
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

interface EvidenceRow {
  key: string;
  label: string;
  /** One entry per line for multi-line values; one entry otherwise. */
  lines: string[];
  multi: boolean;
}

function evidenceRows(a: Alert): EvidenceRow[] {
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

interface Fact {
  label: string;
  value: string;
}

/** The facts every format lists, as readable text (not yet escaped for HTML or Slack). */
function facts(a: Alert): Fact[] {
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

function subjectLine(a: Alert): string {
  return oneLine(`[ipwatch] ${a.severity.toUpperCase()} ${a.rule}: ${whoShort(a)} ${actionShort(a)}`, SUBJECT_MAX);
}

function subjectRow(s: AlertSubject): string[] {
  return [inline(s.client), s.country ? inline(s.country) : '--', inline(asLabel(s.asn, s.org))];
}

// ---------------------------------------------------------------------------------------------
// An alert

/**
 * Renders one alert (a detection or a block; one client, or many folded by network or ASN)
 * in every format.
 *
 * @example
 * const r = renderAlert(alert);
 * r.subject; // '[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) blocked for 1h'
 * await channel.send({ id: alert.id, severity: alert.severity, rendered: r });
 */
export function renderAlert(alert: Alert): Rendered {
  const subject = subjectLine(alert);
  const url = safeUrl(alert.url);
  const first = alert.subjects[0];
  if (first === undefined) throw new TypeError(`alert ${alert.id} has no subjects: an alert is about at least one client`);
  const listed = alert.subjects.slice(0, LIST_MAX);
  const more = alert.subjects.length - listed.length;
  const evidence = evidenceRows(alert);
  const factRows = facts(alert);
  const linkLabel = `Open ${inline(first.client)} in the dashboard`;
  // A folded alert carries the evidence of its first client.
  const evidenceTitle = alert.subjects.length > 1 ? `Evidence (of ${inline(first.client)}, the first)` : 'Evidence';

  // Plain text.
  const width = Math.max(...factRows.map((f) => f.label.length)) + 2;
  const text: string[] = [subject, '', ...factRows.map((f) => `${`${f.label}:`.padEnd(width)}${f.value}`)];
  if (alert.subjects.length > 1) {
    text.push('', `Addresses${alert.foldedBy ? ` (folded by ${inline(foldLabel(alert.foldedBy))})` : ''}:`);
    for (const s of listed) text.push(`  ${subjectRow(s).join('  ')}`);
    if (more > 0) text.push(`  ... and ${more} more`);
  }
  if (evidence.length) {
    text.push('', `${evidenceTitle}:`);
    for (const e of evidence) {
      if (e.multi) text.push(`  ${e.label}:`, ...e.lines.map((l) => `    ${l}`));
      else text.push(`  ${e.label}: ${e.lines[0] ?? ''}`);
    }
  }
  if (url !== null) text.push('', `${linkLabel}: ${url}`);
  text.push('', `-- ipwatch alerter, alert ${inline(alert.id)}`);

  // HTML.
  const body: string[] = [
    `<p style="margin:0 0 12px 0;${FONT}font-size:16px;"><strong>${escapeHtml(whoShort(alert))}</strong> ${escapeHtml(actionShort(alert))}</p>`,
    htmlFacts(factRows),
  ];
  if (alert.subjects.length > 1) {
    body.push(htmlHeading(`Addresses${alert.foldedBy ? ` (folded by ${foldLabel(alert.foldedBy)})` : ''}`));
    body.push(htmlGrid(['client', 'country', 'AS'], listed.map(subjectRow)));
    body.push(htmlMore(more));
  }
  if (evidence.length) {
    body.push(htmlHeading(evidenceTitle));
    const trs = evidence.map((e) => {
      const value = e.multi
        ? `<pre style="margin:0;white-space:pre-wrap;word-break:break-all;${MONO}">${escapeHtml(e.lines.join('\n'))}</pre>`
        : `<code style="${MONO}word-break:break-all;">${escapeHtml(e.lines[0] ?? '')}</code>`;
      return `<tr><th ${TH}>${escapeHtml(e.label)}</th><td ${TD}>${value}</td></tr>`;
    });
    body.push(`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n${trs.join('\n')}\n</table>`);
  }
  body.push(htmlLink(url, linkLabel));
  const html = htmlDocument(
    subject,
    SEVERITY_COLOUR[alert.severity],
    `${escapeHtml(alert.severity.toUpperCase())} &middot; ${escapeHtml(inline(alert.rule))}`,
    body.filter(Boolean).join('\n'),
    `ipwatch alerter &middot; alert ${escapeHtml(inline(alert.id))}`,
  );

  // JSON: plain data, as detected.
  const json: AlertPayload = {
    type: 'alert',
    version: 1,
    id: alert.id,
    ts: new Date(alert.ts).toISOString(),
    kind: alert.kind,
    severity: alert.severity,
    rule: alert.rule,
    action: alert.action,
    blockedUntil: alert.blockedUntil === null ? null : new Date(alert.blockedUntil).toISOString(),
    summary: alert.summary,
    subjects: alert.subjects.map((s) => ({ ...s })),
    foldedBy: alert.foldedBy ? { ...alert.foldedBy } : null,
    evidence: { ...alert.evidence },
    actor: alert.actor,
    url,
  };

  // Slack mrkdwn.
  const code = (s: string): string => `\`${slackEscape(s) || ' '}\``;
  const slack: string[] = [
    `*${slackEscape(alert.severity.toUpperCase())} ${slackEscape(inline(alert.rule))}*: ${slackEscape(whoShort(alert))} ${slackEscape(actionShort(alert))}`,
    ...factRows.map((f) => `*${f.label}:* ${['Client', 'Network', 'AS', 'Rule'].includes(f.label) ? code(f.value) : slackEscape(f.value)}`),
  ];
  if (alert.subjects.length > 1) {
    slack.push(`*Addresses*${alert.foldedBy ? ` (folded by ${slackEscape(foldLabel(alert.foldedBy))})` : ''}:`);
    slack.push(`\`\`\`\n${listed.map((s) => slackEscape(subjectRow(s).join('  '))).join('\n')}\n\`\`\``);
    if (more > 0) slack.push(`... and ${more} more`);
  }
  if (evidence.length) {
    slack.push(`*${slackEscape(evidenceTitle)}:*`);
    for (const e of evidence) {
      if (e.multi) slack.push(`${slackEscape(e.label)}:\n\`\`\`\n${e.lines.map(slackEscape).join('\n')}\n\`\`\``);
      else slack.push(`${slackEscape(e.label)}: ${code(e.lines[0] ?? '')}`);
    }
  }
  if (url !== null) slack.push(`<${url}|${slackEscape(linkLabel)}>`);

  return { subject, text: `${text.join('\n')}\n`, html, json: json as unknown as Record<string, unknown>, slack: slack.join('\n') };
}

// ---------------------------------------------------------------------------------------------
// A digest

function alertClient(a: Alert): string {
  if (a.subjects.length === 1 || a.foldedBy === null) return a.subjects[0]?.client ?? '';
  return a.foldedBy.by === 'asn' && /^\d+$/.test(a.foldedBy.value) ? `AS${a.foldedBy.value}` : a.foldedBy.value;
}

/**
 * Renders a digest: the alerts folded because a channel was above its rate, counted by rule
 * and severity, the first 50 listed (JSON lists all).
 *
 * @example
 * renderDigest(digest).subject; // '[ipwatch] digest: 37 alerts folded (10 alerts a minute exceeded)'
 */
export function renderDigest(digest: Digest): Rendered {
  const n = digest.alerts.length;
  const subject = oneLine(`[ipwatch] digest: ${n} alert${n === 1 ? '' : 's'} folded (${digest.limit} exceeded)`, SUBJECT_MAX);
  // The digest links to the dashboard's detections page (digest.url is its base).
  const url = safeUrl(`${digest.url.replace(/\/+$/, '')}/detections`);
  const listed = digest.alerts.slice(0, LIST_MAX);
  const more = n - listed.length;
  const byRule = new Map<string, number>();
  const bySeverity = new Map<Severity, number>();
  for (const a of digest.alerts) {
    byRule.set(a.rule, (byRule.get(a.rule) ?? 0) + 1);
    bySeverity.set(a.severity, (bySeverity.get(a.severity) ?? 0) + 1);
  }
  const ruleCounts = [...byRule].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])).map(([r, c]) => `${inline(r)} ${c}`).join(', ');
  const severityCounts = (['critical', 'high', 'medium', 'low'] as const).filter((s) => bySeverity.has(s)).map((s) => `${s} ${bySeverity.get(s)}`).join(', ');
  const first = digest.alerts[0];
  const last = digest.alerts[n - 1];
  const span = first && last ? `${iso(first.ts)} to ${iso(last.ts)}` : iso(digest.ts);
  const intro = `More than ${inline(digest.limit)}: ${n} alert${n === 1 ? ' was' : 's were'} folded into this digest.`;
  const row = (a: Alert): string[] => [iso(a.ts), a.severity, inline(a.rule), inline(alertClient(a)) + (a.subjects.length > 1 ? ` (${a.subjects.length} addresses)` : ''), actionShort(a), inline(a.summary)];
  const factRows: Fact[] = [
    { label: 'Folded', value: String(n) },
    { label: 'Severity', value: `${digest.severity} (highest)` },
    { label: 'By severity', value: severityCounts || 'none' },
    { label: 'By rule', value: ruleCounts || 'none' },
    { label: 'Between', value: span },
  ];

  const width = Math.max(...factRows.map((f) => f.label.length)) + 2;
  const text: string[] = [subject, '', intro, '', ...factRows.map((f) => `${`${f.label}:`.padEnd(width)}${f.value}`), '', 'Alerts:'];
  for (const a of listed) text.push(`  ${row(a).slice(0, 5).join('  ')}`, `      ${row(a)[5]}`);
  if (more > 0) text.push(`  ... and ${more} more`);
  if (url !== null) text.push('', `Detections in the dashboard: ${url}`);
  text.push('', `-- ipwatch alerter, digest ${inline(digest.id)}`);

  const html = htmlDocument(
    subject,
    SEVERITY_COLOUR[digest.severity],
    `Digest &middot; ${n} alert${n === 1 ? '' : 's'} folded`,
    [
      `<p style="margin:0 0 12px 0;${FONT}">${escapeHtml(intro)}</p>`,
      htmlFacts(factRows),
      htmlHeading('Alerts'),
      htmlGrid(['when', 'severity', 'rule', 'client', 'action', 'summary'], listed.map(row)),
      htmlMore(more),
      htmlLink(url, 'Detections in the dashboard'),
    ]
      .filter(Boolean)
      .join('\n'),
    `ipwatch alerter &middot; digest ${escapeHtml(inline(digest.id))}`,
  );

  const json: DigestPayload = {
    type: 'digest',
    version: 1,
    id: digest.id,
    ts: new Date(digest.ts).toISOString(),
    severity: digest.severity,
    folded: n,
    limit: digest.limit,
    url,
    alerts: digest.alerts.map((a) => ({
      id: a.id,
      rule: a.rule,
      severity: a.severity,
      client: alertClient(a),
      addresses: a.subjects.length,
      summary: a.summary,
      action: a.action,
      url: safeUrl(a.url),
    })),
  };

  const slack: string[] = [
    `*${slackEscape(subject)}*`,
    slackEscape(intro),
    ...factRows.map((f) => `*${f.label}:* ${slackEscape(f.value)}`),
    `\`\`\`\n${listed.map((a) => slackEscape(row(a).join('  '))).join('\n')}\n\`\`\``,
  ];
  if (more > 0) slack.push(`... and ${more} more`);
  if (url !== null) slack.push(`<${url}|Detections in the dashboard>`);

  return { subject, text: `${text.join('\n')}\n`, html, json: json as unknown as Record<string, unknown>, slack: slack.join('\n') };
}

// ---------------------------------------------------------------------------------------------
// A test

/**
 * Renders the message `ipwatch alerts test` sends: it says it is a test, from which host and
 * process, through which channel; no client was detected and nothing was blocked.
 *
 * @example
 * renderTest({ ts: Date.now(), channel: 'email', url: 'http://127.0.0.1:7070' }).subject;
 * // '[ipwatch] test alert via email from alerter-1'
 */
export function renderTest(info: { ts: number; channel: ChannelName; url: string }): Rendered {
  const host = hostname();
  const id = `test-${host}-${process.pid}-${info.ts}`;
  const url = safeUrl(info.url);
  const subject = oneLine(`[ipwatch] test alert via ${info.channel} from ${host}`, SUBJECT_MAX);
  const message = `This is a test alert from ipwatch on ${host} (process ${process.pid}), sent through the ${info.channel} channel at ${iso(info.ts)}. No client was detected and nothing was blocked: if you can read this, the channel works.`;
  const text = [subject, '', inline(message), ...(url === null ? [] : ['', `Dashboard: ${url}`]), '', `-- ipwatch alerter, ${id}`].join('\n');
  const html = htmlDocument(
    subject,
    '#1a7f37',
    'Test alert',
    [`<p style="margin:0;${FONT}">${escapeHtml(inline(message))}</p>`, htmlLink(url, 'Open the dashboard')].filter(Boolean).join('\n'),
    `ipwatch alerter &middot; ${escapeHtml(inline(id))}`,
  );
  const json: TestPayload = { type: 'test', version: 1, id, ts: new Date(info.ts).toISOString(), severity: 'low', channel: info.channel, host, message, url };
  const slack = [`*${slackEscape(subject)}*`, slackEscape(message), ...(url === null ? [] : [`<${url}|Open the dashboard>`])].join('\n');
  return { subject, text: `${text}\n`, html, json: json as unknown as Record<string, unknown>, slack };
}
