/**
 * How the daily report looks, in every format a channel carries (an email subject, a plain-text
 * part with aligned columns, a complete HTML document whose bars are tables, the webhook's JSON,
 * Slack mrkdwn), and as `ipwatch report` prints it. Built once as sections of rows, then written
 * out per format, so every channel says the same thing.
 *
 * Paths, org names, rule and source names are stored text, attacker-controlled or may be: in
 * HTML each goes through `escapeHtml`; in Slack through `slackEscape`; in text and HTML through
 * `oneLine` (no line breaks, controls or bidi characters, bounded). JSON is the report as data.
 */
import type { DailyReport, Figure, RateFigure } from '@ipwatch/store';
import type { Rendered } from '../alert.ts';
import { escapeHtml, oneLine, slackEscape } from '../render.ts';

export type ReportFormat = 'text' | 'html' | 'json';

/** Longest stored string shown in a column (paths, org names); JSON carries them whole. */
const CELL_MAX = 60;
const SUBJECT_MAX = 200;
/** Bars of the text chart, in characters at most. */
const TEXT_BAR = 40;
/** Rows of each top list shown in Slack (text and HTML show the whole list). */
const SLACK_TOP = 5;

/**
 * The JSON webhook's body for the daily report (`type: 'daily-report'`): the DailyReport as data
 * (strings exactly as stored, never escaped), with the dashboard link.
 *
 * @example
 * { "type": "daily-report", "version": 1, "url": "https://dash.example.com/",
 *   "date": "2015-05-17", "timeZone": "UTC", "totals": { "requests": { "value": 1632, "previous": 0, "change": null }, ... }, ... }
 */
export type DailyReportPayload = { type: 'daily-report'; version: 1; url: string | null } & DailyReport;

// ---------------------------------------------------------------------------------------------
// Figures in words

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A share as a percentage: "1.2%", "—" without requests. */
export function percent(x: number | null): string {
  if (x === null) return '—';
  const p = x * 100;
  return `${p !== 0 && Math.abs(p) < 0.1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/**
 * A change against the day before, short: "+12%", "-3%", "±0%", "new" (none the day before),
 * "" (none either day).
 *
 * @example
 * changeShort({ value: 112, previous: 100, change: 0.12 }); // '+12%'
 */
export function changeShort(f: { value: number | null; previous: number | null; change: number | null }): string {
  if (f.change === null) return f.value !== null && f.value !== 0 && (f.previous === 0 || f.previous === null) ? 'new' : '';
  if (f.change === 0) return '±0%';
  const p = f.change * 100;
  const shown = Math.abs(p) >= 1 ? String(Math.round(Math.abs(p))) : Math.abs(p).toFixed(1);
  return `${p > 0 ? '+' : '-'}${Number(shown).toLocaleString('en-US')}%`;
}

/** "+12% vs day before", "new (none the day before)", "none either day". */
export function changeLong(f: { value: number | null; previous: number | null; change: number | null }): string {
  const short = changeShort(f);
  if (short === 'new') return 'new (none the day before)';
  if (short === '') return f.value === null ? 'no requests either day' : 'none either day';
  return `${short} vs day before`;
}

/** A stored string for a cell: one line, bounded, '' shown as `empty`. */
const cell = (s: string, empty = '-', max = CELL_MAX): string => oneLine(s, max) || empty;
const asLabel = (asn: number, org: string): string => (asn === 0 ? cell(org, 'unknown') : `AS${asn}${org ? ` ${cell(org, '', CELL_MAX - 10)}` : ''}`);

/** The URL when it is http(s), normalised (quotes, brackets and spaces percent-encoded); otherwise null. */
function safeUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return u.href.replace(/\|/g, '%7C').replace(/'/g, '%27');
}

// ---------------------------------------------------------------------------------------------
// The report as sections

interface Column {
  name: string;
  align: 'left' | 'right';
}

interface Section {
  title: string;
  columns: Column[];
  rows: string[][];
  /** Per row, the number its bar shows (HTML draws a bar column before the last columns). */
  bars?: number[];
  /** Shown instead of an empty table. */
  empty: string;
}

const L = (name: string): Column => ({ name, align: 'left' });
const R = (name: string): Column => ({ name, align: 'right' });

function headline(r: DailyReport): Array<{ label: string; value: string; change: string }> {
  const t = r.totals;
  const b = r.blocks;
  const count = (f: Figure) => int(f.value);
  const share = (f: Figure, rate: RateFigure) => `${int(f.value)} (${percent(rate.value)})`;
  return [
    { label: 'Requests', value: count(t.requests), change: changeLong(t.requests) },
    { label: 'Unique clients', value: count(t.uniqueClients), change: changeLong(t.uniqueClients) },
    { label: 'Server errors (5xx)', value: share(t.serverErrors, t.serverErrorRate), change: changeLong(t.serverErrors) },
    { label: 'Client errors (4xx)', value: share(t.clientErrors, t.clientErrorRate), change: changeLong(t.clientErrors) },
    { label: 'Blocked requests', value: count(t.blocked), change: changeLong(t.blocked) },
    { label: 'Rate-limited requests', value: count(t.rateLimited), change: changeLong(t.rateLimited) },
    { label: 'Rate-limit refusals', value: count(t.rateLimitRefusals), change: changeLong(t.rateLimitRefusals) },
    { label: 'Detections', value: count(t.detections), change: changeLong(t.detections) },
    {
      label: 'Blocks made',
      value: `${count(t.blocksMade)} (${int(b.madeByKind.rule.value)} by rules, ${int(b.madeByKind.manual.value)} manual, ${int(b.madeByKind.import.value)} imported)`,
      change: changeLong(t.blocksMade),
    },
    { label: 'Blocks lifted', value: `${count(t.blocksLifted)} (${int(b.unblocked.value)} unblocked, ${int(b.expired.value)} ran out)`, change: changeLong(t.blocksLifted) },
  ];
}

function sections(r: DailyReport): Section[] {
  const ch = (x: { requests: number; previous: number; change: number | null }) => changeShort({ value: x.requests, previous: x.previous, change: x.change });
  return [
    {
      title: 'Top clients',
      columns: [L('client'), R('requests'), R('change'), R('errors'), L('country'), L('network owner')],
      rows: r.topClients.map((c) => [cell(c.ip), int(c.requests), ch(c), int(c.errors), cell(c.country), asLabel(c.asn, c.org)]),
      bars: r.topClients.map((c) => c.requests),
      empty: 'no requests',
    },
    {
      title: 'Top paths',
      columns: [L('path'), R('requests'), R('change'), R('errors'), R('clients')],
      rows: r.topPaths.map((p) => [cell(p.path), int(p.requests), ch(p), int(p.errors), int(p.clients)]),
      bars: r.topPaths.map((p) => p.requests),
      empty: 'no requests',
    },
    {
      title: 'Top countries',
      columns: [L('country'), R('requests'), R('change'), R('clients')],
      rows: r.topCountries.map((c) => [cell(c.country, 'unknown'), int(c.requests), ch(c), int(c.clients)]),
      bars: r.topCountries.map((c) => c.requests),
      empty: 'no requests',
    },
    {
      title: 'Top networks (AS)',
      columns: [L('network owner'), R('requests'), R('change'), R('clients')],
      rows: r.topNetworks.asns.map((a) => [asLabel(a.asn, a.org), int(a.requests), ch(a), int(a.clients)]),
      bars: r.topNetworks.asns.map((a) => a.requests),
      empty: 'no requests',
    },
    {
      title: 'Top networks (/24, /48)',
      columns: [L('network'), R('requests'), R('change'), R('clients'), L('country'), L('network owner')],
      rows: r.topNetworks.prefixes.map((p) => [cell(p.network), int(p.requests), ch(p), int(p.clients), cell(p.country), asLabel(p.asn, p.org)]),
      bars: r.topNetworks.prefixes.map((p) => p.requests),
      empty: 'no requests',
    },
    {
      title: 'Detections by rule',
      columns: [L('rule'), L('severity'), R('detections'), R('change'), R('blocked'), R('dry run'), R('clients')],
      rows: r.detections.byRule.map((d) => [cell(d.rule), cell(d.severity), int(d.detections), changeShort({ value: d.detections, previous: d.previous, change: d.change }), int(d.blocked), int(d.dryRun), int(d.clients)]),
      empty: 'no detections',
    },
    {
      title: 'Detections by severity',
      columns: [L('severity'), R('detections'), R('change')],
      rows: r.detections.bySeverity.map((d) => [cell(d.severity), int(d.detections), changeShort({ value: d.detections, previous: d.previous, change: d.change })]),
      empty: 'no detections',
    },
    {
      title: 'Blocks made by source',
      columns: [L('source'), L('kind'), R('blocks'), R('change')],
      rows: r.blocks.bySource.map((b) => [cell(b.source), b.kind, int(b.blocks), changeShort({ value: b.blocks, previous: b.previous, change: b.change })]),
      empty: 'no blocks made',
    },
    {
      title: 'Rate-limit refusals by rule',
      columns: [L('rule'), R('refused'), R('change'), R('events'), R('clients')],
      rows: r.rateLimits.byRule.map((l) => [cell(l.rule), int(l.refusals), changeShort({ value: l.refusals, previous: l.previous, change: l.change }), int(l.events), int(l.clients)]),
      empty: 'no rate-limit refusals',
    },
  ];
}

function dayLine(r: DailyReport): string {
  const hours = r.range.hours === 24 ? '24 hours' : `${r.range.hours} hours (the clocks changed)`;
  return `${r.date}, ${r.timeZone} (${hours}; ${new Date(r.range.since).toISOString().slice(0, 16).replace('T', ' ')} to ${new Date(r.range.until).toISOString().slice(0, 16).replace('T', ' ')} UTC), against ${r.previousRange.date}`;
}

/**
 * The email subject: `[ipwatch] daily report 2015-05-17: 10,000 requests (+4%), 3 blocks`.
 *
 * @example
 * reportSubject(report); // '[ipwatch] daily report 2015-05-17: 1,632 requests, 0 blocks'
 */
export function reportSubject(r: DailyReport): string {
  const change = changeShort(r.totals.requests);
  const blocks = r.totals.blocksMade.value;
  const tz = r.timeZone === 'UTC' ? '' : ` (${r.timeZone})`;
  return oneLine(`[ipwatch] daily report ${r.date}${tz}: ${int(r.totals.requests.value)} requests${change && change !== 'new' ? ` (${change})` : ''}, ${int(blocks)} block${blocks === 1 ? '' : 's'}`, SUBJECT_MAX);
}

// ---------------------------------------------------------------------------------------------
// Plain text

function textTable(s: Section): string[] {
  if (s.rows.length === 0) return [`  ${s.empty}`];
  const widths = s.columns.map((c, i) => Math.max(c.name.length, ...s.rows.map((row) => Array.from(row[i] ?? '').length)));
  const pad = (text: string, i: number) => {
    const w = widths[i] ?? 0;
    const gap = ' '.repeat(Math.max(0, w - Array.from(text).length));
    return s.columns[i]?.align === 'right' ? gap + text : text + gap;
  };
  const line = (cells: string[]) => `  ${cells.map(pad).join('  ')}`.trimEnd();
  return [line(s.columns.map((c) => c.name)), ...s.rows.map(line)];
}

function textReport(r: DailyReport, url: string | null): string {
  const out: string[] = [reportSubject(r), '', dayLine(r), ''];
  const facts = headline(r);
  const lw = Math.max(...facts.map((f) => f.label.length)) + 1;
  const vw = Math.max(...facts.map((f) => f.value.length));
  for (const f of facts) out.push(`${`${f.label}:`.padEnd(lw)} ${f.value.padStart(vw)}   ${f.change}`.trimEnd());
  out.push('', `Requests per hour (${r.timeZone}; # errors, = answered)`);
  const max = Math.max(1, ...r.hourly.map((h) => h.requests));
  const cw = Math.max(...r.hourly.map((h) => int(h.requests).length));
  for (const h of r.hourly) {
    const width = h.requests === 0 ? 0 : Math.max(1, Math.round((h.requests / max) * TEXT_BAR));
    const errors = h.requests === 0 ? 0 : Math.min(width, Math.round((h.errors / h.requests) * width) || (h.errors > 0 ? 1 : 0));
    out.push(`  ${h.label}  ${int(h.requests).padStart(cw)}  ${'#'.repeat(errors)}${'='.repeat(width - errors)}`.trimEnd());
  }
  for (const s of sections(r)) out.push('', s.title, ...textTable(s));
  if (url !== null) out.push('', `Dashboard: ${url}`);
  out.push('', `-- ipwatch, report made ${new Date(r.generatedAt).toISOString().replace(/\.\d{3}Z$/, 'Z')}`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// HTML: tables and inline styles, as mail clients render them; bars are table cells.

const FONT = 'font-family:Arial,Helvetica,sans-serif;';
const BAR_COLOUR = '#0969da';
const ERROR_COLOUR = '#cf222e';
const TH = `style="${FONT}text-align:left;padding:4px 8px;background:#f6f8fa;border-bottom:1px solid #d0d7de;font-size:12px;"`;
/** Text may break anywhere (a long path must not widen the mail) except figures and addresses, which never break. */
const cellStyle = (align: 'left' | 'right', text = '') =>
  `style="${FONT}padding:3px 8px;border-bottom:1px solid #eaeef2;font-size:12px;vertical-align:top;text-align:${align};${align === 'left' && !ADDRESS_LIKE.test(text) ? 'overflow-wrap:anywhere;' : 'white-space:nowrap;'}"`;
const ADDRESS_LIKE = /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/;

/** A bar: a table whose first cell is `share` (0..1) of the width, coloured; bars of errors inside in red. */
function htmlBar(share: number, errorShare = 0): string {
  const w = share <= 0 ? 0 : Math.max(1, Math.round(share * 100));
  if (w === 0) return '&nbsp;';
  const e = Math.min(w, Math.round(errorShare * w));
  const td = (width: number, colour: string) => `<td width="${width}%" style="width:${width}%;background:${colour};height:10px;font-size:1px;line-height:1px;">&nbsp;</td>`;
  const rest = 100 - w;
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>${e > 0 ? td(e, ERROR_COLOUR) : ''}${w - e > 0 ? td(w - e, BAR_COLOUR) : ''}${rest > 0 ? `<td width="${rest}%" style="width:${rest}%;font-size:1px;line-height:1px;">&nbsp;</td>` : ''}</tr></table>`;
}

function htmlHeading(text: string): string {
  return `<p style="margin:20px 0 6px 0;${FONT}font-size:15px;font-weight:bold;">${escapeHtml(text)}</p>`;
}

function htmlTable(s: Section): string {
  if (s.rows.length === 0) return `<p style="margin:0;${FONT}font-size:12px;color:#57606a;">${escapeHtml(s.empty)}</p>`;
  const max = Math.max(1, ...(s.bars ?? []));
  const head = s.columns.map((c) => `<th ${TH}>${escapeHtml(c.name)}</th>`);
  if (s.bars) head.splice(2, 0, `<th ${TH}>&nbsp;</th>`);
  const trs = s.rows.map((row, i) => {
    const tds = row.map((v, j) => `<td ${cellStyle(s.columns[j]?.align ?? 'left', v)}>${escapeHtml(v)}</td>`);
    if (s.bars) tds.splice(2, 0, `<td width="25%" style="width:25%;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:middle;">${htmlBar((s.bars[i] ?? 0) / max)}</td>`);
    return `<tr>${tds.join('')}</tr>`;
  });
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">\n<tr>${head.join('')}</tr>\n${trs.join('\n')}\n</table>`;
}

function htmlHours(r: DailyReport): string {
  const max = Math.max(1, ...r.hourly.map((h) => h.requests));
  const trs = r.hourly.map(
    (h) =>
      `<tr><td ${cellStyle('left')}>${escapeHtml(h.label)}</td><td width="70%" style="width:70%;padding:2px 8px;border-bottom:1px solid #eaeef2;vertical-align:middle;">${htmlBar(h.requests / max, h.requests === 0 ? 0 : h.errors / h.requests)}</td><td ${cellStyle('right')}>${int(h.requests)}</td><td ${cellStyle('right')}>${h.errors ? `${int(h.errors)} err` : ''}</td></tr>`,
  );
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">\n${trs.join('\n')}\n</table>`;
}

function htmlReport(r: DailyReport, url: string | null): string {
  const subject = reportSubject(r);
  const facts = headline(r).map(
    (f) =>
      `<tr><th style="${FONT}text-align:left;padding:4px 12px 4px 0;color:#57606a;font-weight:normal;white-space:nowrap;">${escapeHtml(f.label)}</th><td style="${FONT}padding:4px 12px 4px 0;text-align:right;font-weight:bold;white-space:nowrap;">${escapeHtml(f.value)}</td><td style="${FONT}padding:4px 0;color:${f.change.startsWith('+') ? '#9a6700' : '#57606a'};">${escapeHtml(f.change)}</td></tr>`,
  );
  const body = [
    `<p style="margin:0 0 12px 0;${FONT}font-size:13px;color:#57606a;">${escapeHtml(dayLine(r))}</p>`,
    `<table role="presentation" cellpadding="0" cellspacing="0" border="0">\n${facts.join('\n')}\n</table>`,
    htmlHeading(`Requests per hour (${r.timeZone}; red: errors)`),
    htmlHours(r),
    ...sections(r).flatMap((s) => [htmlHeading(s.title), htmlTable(s)]),
    url === null ? '' : `<p style="margin:20px 0 0 0;"><a href="${escapeHtml(url)}" style="${FONT}color:#0969da;font-weight:bold;">Open the dashboard</a></p>`,
  ].filter(Boolean);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(subject)}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="720" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:720px;background:#ffffff;border:1px solid #d0d7de;${FONT}font-size:14px;color:#1f2328;">
<tr><td style="background:#24292f;color:#ffffff;padding:12px 16px;${FONT}font-size:16px;font-weight:bold;">ipwatch daily report &middot; ${escapeHtml(r.date)}</td></tr>
<tr><td style="padding:16px;">
${body.join('\n')}
</td></tr>
<tr><td style="padding:8px 16px;border-top:1px solid #d0d7de;color:#57606a;${FONT}font-size:12px;">ipwatch &middot; report made ${escapeHtml(new Date(r.generatedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'))}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// Slack: a compact summary.

function slackReport(r: DailyReport, url: string | null): string {
  const t = r.totals;
  const fig = (label: string, f: Figure, extra = '') => {
    const c = changeShort(f);
    return `*${label}:* ${int(f.value)}${extra}${c ? ` (${c})` : ''}`;
  };
  const code = (s: string) => `\`${slackEscape(s) || ' '}\``;
  const lines = [
    `*ipwatch daily report ${slackEscape(r.date)}* (${slackEscape(r.timeZone)}${r.range.hours === 24 ? '' : `, ${r.range.hours} hours`}), against the day before`,
    [fig('Requests', t.requests), fig('Clients', t.uniqueClients)].join(' · '),
    [fig('5xx', t.serverErrors, ` = ${percent(t.serverErrorRate.value)}`), fig('4xx', t.clientErrors, ` = ${percent(t.clientErrorRate.value)}`)].join(' · '),
    [fig('Detections', t.detections), fig('Blocks made', t.blocksMade), fig('lifted', t.blocksLifted), fig('Rate-limit refusals', t.rateLimitRefusals)].join(' · '),
  ];
  const list = (label: string, items: string[]) => {
    if (items.length) lines.push(`*${label}:* ${items.join(', ')}`);
  };
  list('Top clients', r.topClients.slice(0, SLACK_TOP).map((c) => `${code(cell(c.ip))} ${int(c.requests)}`));
  list('Top paths', r.topPaths.slice(0, SLACK_TOP).map((p) => `${code(cell(p.path))} ${int(p.requests)}`));
  list('Top countries', r.topCountries.slice(0, SLACK_TOP).map((c) => `${slackEscape(cell(c.country, 'unknown'))} ${int(c.requests)}`));
  list('Top networks', r.topNetworks.asns.slice(0, SLACK_TOP).map((a) => `${slackEscape(asLabel(a.asn, a.org))} ${int(a.requests)}`));
  list('Detections', r.detections.byRule.filter((d) => d.detections > 0).slice(0, SLACK_TOP).map((d) => `${code(cell(d.rule))} ${slackEscape(cell(d.severity))} ${int(d.detections)}`));
  if (url !== null) lines.push(`<${url}|Open the dashboard>`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

/**
 * The daily report in every format the channels carry.
 *
 * @example
 * const rendered = renderDailyReport(await analytics.dailyReport({ date: '2015-05-17', timeZone: 'UTC' }), { url: 'https://dash.example.com/' });
 * rendered.subject; // '[ipwatch] daily report 2015-05-17: 1,632 requests, 0 blocks'
 */
export function renderDailyReport(report: DailyReport, options: { url: string }): Rendered {
  const url = safeUrl(options.url);
  const json: DailyReportPayload = { type: 'daily-report', version: 1, url, ...report };
  return {
    subject: reportSubject(report),
    text: textReport(report, url),
    html: htmlReport(report, url),
    json: json as unknown as Record<string, unknown>,
    slack: slackReport(report, url),
  };
}

/**
 * The daily report as `ipwatch report` prints it: text (aligned columns), html (the email's
 * document) or json (the DailyReport as data, as the api answers it).
 *
 * @example
 * process.stdout.write(formatDailyReport(report, 'text'));
 */
export function formatDailyReport(report: DailyReport, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'html') return htmlReport(report, null);
  return textReport(report, null);
}
