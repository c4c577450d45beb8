/**
 * Writes request events as lines of the combined access-log format, as the web server in front
 * of the app would have written them (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`):
 * for tests that replay a log of traffic whose live outcome they know.
 *
 * @example
 * combinedLine({ ts: Date.UTC(2026, 0, 2, 3, 4, 5, 678), ip: '100.64.0.1', method: 'GET', path: '/a b', status: 404, bytes: 9, referer: '', userAgent: 'curl/8', userId: null });
 * // '100.64.0.1 - - [02/Jan/2026:03:04:05 +0000] "GET /a%20b HTTP/1.1" 404 9 "-" "curl/8"'
 */
import type { RequestEvent } from '@ipwatch/core/schemas';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** `[10/Oct/2000:13:55:36 +0000]` without the brackets: UTC, whole seconds (the milliseconds are dropped, as servers do). */
export function timeLocal(ts: number): string {
  const d = new Date(ts);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/**
 * The request target as it went over the wire. The emitter records the path decoded
 * (`/a%20b` as `/a b`); a server logs the raw target, in which a space, a quote, `<` or a
 * non-ASCII character can only appear percent-encoded. Escapes the event kept (`%25`, reserved
 * characters) stay as they are.
 */
export function requestTarget(path: string): string {
  return path.replace(/[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/gu, (c) => encodeURIComponent(c));
}

/** A quoted field: `"` and `\` escaped as Apache does; empty as `-`. */
function quoted(text: string): string {
  return `"${text === '' ? '-' : text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export type LoggedRequest = Pick<RequestEvent, 'ts' | 'ip' | 'method' | 'path' | 'status' | 'bytes' | 'referer' | 'userAgent' | 'userId'>;

/** One combined-format line (no newline). */
export function combinedLine(r: LoggedRequest): string {
  const user = r.userId === null || r.userId === '' ? '-' : r.userId.replace(/\s/g, '_');
  return `${r.ip} - ${user} [${timeLocal(r.ts)}] "${r.method} ${requestTarget(r.path)} HTTP/1.1" ${r.status} ${r.bytes} ${quoted(r.referer)} ${quoted(r.userAgent)}`;
}
