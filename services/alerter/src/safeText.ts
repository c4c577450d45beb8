/**
 * Making text that may come from an attacker (paths, user agents, usernames, org names,
 * reasons) safe for each format an alert or a report takes: HTML, Slack mrkdwn, a subject line,
 * plain text. Every renderer of the alerter goes through these; none escapes on its own.
 */

/** Longest evidence value shown in text, HTML and Slack (JSON carries it whole). */
export const VALUE_MAX = 2000;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Text as HTML that shows it literally, in element content and in quoted attribute values.
 *
 * @example
 * escapeHtml('"><img src=x onerror=alert(1)>'); // '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/**
 * Text as Slack mrkdwn shows it literally: `&`, `<`, `>` become entities (so `<!channel>`,
 * `<@U123>`, `<!here>` and `<http://x|y>` links cannot be forged), backticks become U+02CB
 * (so text cannot close the code span or block it sits in), and an `@` before a name gets a
 * word joiner (Mattermost and Rocket.Chat, which take Slack's webhooks, ping `@channel` and
 * `@user` written plainly).
 *
 * @example
 * slackEscape('<!channel> `x` @here'); // '&lt;!channel&gt; ˋxˋ @\u2060here'
 */
export function slackEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/`/g, '\u02CB')
    .replace(/@(?=[\p{L}\p{N}_])/gu, '@\u2060');
}

/** Characters a reader does not see as themselves: controls, format and bidi characters, separators, lone surrogates. */
const UNSHOWN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}]/gu;
/** The same, but for line feeds and tabs, which multi-line text keeps. */
const UNSHOWN_IN_TEXT = /(?![\n\t])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * One line of at most `max` characters, for subjects and headers: line breaks and tabs become
 * a space, other control, format and bidi characters are removed, runs of spaces fold, and a
 * longer text is cut with "…" (never inside a surrogate pair).
 *
 * @example
 * oneLine('GET /a\r\nBcc: x@example.com', 200); // 'GET /a Bcc: x@example.com'
 * oneLine('abcdef', 4);                          // 'abc…'
 */
export function oneLine(s: string, max: number): string {
  const flat = s
    .replace(/[\r\n\t\v\f\u0085\u2028\u2029]+/g, ' ')
    .replace(UNSHOWN, '')
    .replace(/ {2,}/g, ' ')
    .trim();
  const chars = Array.from(flat);
  if (chars.length <= max) return flat;
  return `${chars.slice(0, Math.max(0, max - 1)).join('').trimEnd()}…`;
}

/** Text for a reader, keeping its line breaks (CRLF and CR become LF) and tabs; every other unseen character becomes U+FFFD. */
export function shown(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(UNSHOWN_IN_TEXT, '\uFFFD');
}

/** A value meant to be one line: its line breaks written as \n (visibly), so it cannot start a line of its own. */
export function inline(s: string): string {
  return shown(s.replace(/\r/g, '\\r').replace(/\n/g, '\\n'));
}

/** Cuts a long value, saying how much was left out. */
export function cut(s: string, max = VALUE_MAX): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max).join('')}… (${chars.length - max} more characters)`;
}

/** The URL when it is http(s), normalised (so `"`, `<`, `>`, spaces are percent-encoded); otherwise null. */
export function safeUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  // `|` ends a Slack link's address; `'` could end an attribute quoted by a careless receiver.
  return u.href.replace(/\|/g, '%7C').replace(/'/g, '%27');
}
