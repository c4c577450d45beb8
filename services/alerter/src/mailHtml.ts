/**
 * The building blocks of an alert mail's HTML part: a table layout with inline styles, as mail
 * clients render it (no stylesheet, no script, nothing fetched). Every text goes in through
 * escapeHtml; links only as the renderer has checked them (safeUrl).
 */
import { escapeHtml } from './safeText.ts';

export const FONT = 'font-family:Arial,Helvetica,sans-serif;';
export const MONO = 'font-family:Consolas,Menlo,Courier New,monospace;font-size:12px;';
export const TH = `style="${FONT}text-align:left;vertical-align:top;padding:4px 12px 4px 0;color:#57606a;font-weight:normal;white-space:nowrap;"`;
export const TD = `style="${FONT}vertical-align:top;padding:4px 0;color:#1f2328;"`;

export function htmlDocument(title: string, colour: string, heading: string, body: string, footer: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:640px;background:#ffffff;border:1px solid #d0d7de;${FONT}font-size:14px;color:#1f2328;">
<tr><td style="background:${colour};color:#ffffff;padding:12px 16px;${FONT}font-size:16px;font-weight:bold;">${heading}</td></tr>
<tr><td style="padding:16px;">
${body}
</td></tr>
<tr><td style="padding:8px 16px;border-top:1px solid #d0d7de;color:#57606a;${FONT}font-size:12px;">${footer}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
}

export function htmlFacts(rows: Array<{ label: string; value: string }>): string {
  const trs = rows.map((f) => `<tr><th ${TH}>${escapeHtml(f.label)}</th><td ${TD}>${escapeHtml(f.value)}</td></tr>`);
  return `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 12px 0;">\n${trs.join('\n')}\n</table>`;
}

export function htmlLink(url: string | null, label: string): string {
  if (url === null) return '';
  return `<p style="margin:16px 0 0 0;"><a href="${escapeHtml(url)}" style="${FONT}color:#0969da;font-weight:bold;">${escapeHtml(label)}</a></p>`;
}

export function htmlHeading(text: string): string {
  return `<p style="margin:16px 0 6px 0;${FONT}font-size:15px;font-weight:bold;">${escapeHtml(text)}</p>`;
}

export function htmlGrid(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th style="${FONT}text-align:left;padding:4px 8px;background:#f6f8fa;border-bottom:1px solid #d0d7de;font-size:12px;">${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td style="${FONT}padding:3px 8px;border-bottom:1px solid #eaeef2;font-size:12px;vertical-align:top;">${escapeHtml(c)}</td>`).join('')}</tr>`);
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">\n<tr>${th}</tr>\n${trs.join('\n')}\n</table>`;
}

export function htmlMore(n: number): string {
  return n > 0 ? `<p style="margin:6px 0 0 0;color:#57606a;font-size:12px;">... and ${n} more</p>` : '';
}
