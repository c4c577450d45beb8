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
import type { Alert, ChannelName, Digest, Rendered } from './alert.ts';
import { escapeHtml, inline, oneLine, safeUrl, slackEscape } from './safeText.ts';
import { FONT, MONO, TD, TH, htmlDocument, htmlFacts, htmlGrid, htmlHeading, htmlLink, htmlMore } from './mailHtml.ts';
import { SUBJECT_MAX, actionShort, evidenceRows, facts, foldLabel, iso, subjectLine, subjectRow, whoShort, type Fact } from './wording.ts';

export { escapeHtml, oneLine, slackEscape } from './safeText.ts';
export { humanDuration } from './wording.ts';
export type { AlertPayload, DigestPayload, TestPayload } from './payloads.ts';
import type { AlertPayload, DigestPayload, TestPayload } from './payloads.ts';

/** Addresses of a folded alert (and alerts of a digest) listed in text, HTML and Slack; JSON lists all. */
export const LIST_MAX = 50;

/** The band atop an HTML mail, by severity. */
const SEVERITY_COLOUR: Record<Severity, string> = { low: '#0969da', medium: '#9a6700', high: '#cf222e', critical: '#82071e' };

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
