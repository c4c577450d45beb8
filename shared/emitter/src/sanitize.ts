/**
 * Sanitising hostile strings: everything read from a request (path, headers, method) is
 * bounded and made valid, printable text before it goes into an event, a rate-limit key or
 * a log line. Headers can be arrays, huge, non-UTF-8 or full of control characters.
 */
import { isUtf8 } from 'node:buffer';
import { METHODS } from 'node:http';

/** Printable ASCII: the common case, returned as is after a single regex test. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** Printable ASCII without space and '%': a path with nothing to decode or escape. */
const PLAIN_PATH = /^[\x21-\x24\x26-\x7e]*$/;
const NON_ASCII = /[^\x00-\x7f]/;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const KNOWN_METHODS = new Set(METHODS);
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;

/**
 * Non-ASCII text made valid: node's parser hands raw header and URL bytes over as latin1
 * characters, so a UTF-8 user agent arrives as mojibake; read those bytes as UTF-8 when
 * they are UTF-8, and keep the latin1 reading (valid text too) when they are not. Strings
 * from elsewhere (chars above U+00FF) only lose lone surrogates, which cannot be encoded.
 */
function toValidText(s: string, wasCut: boolean): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) return s.replace(LONE_SURROGATE, '\ufffd');
  }
  const bytes = Buffer.from(s, 'latin1');
  if (isUtf8(bytes)) return bytes.toString('utf8');
  if (wasCut) {
    // we cut the value ourselves, perhaps inside a multi-byte character: drop that tail
    for (let k = 1; k <= 3 && k < bytes.length; k++) {
      const head = bytes.subarray(0, bytes.length - k);
      if (isUtf8(head)) return head.toString('utf8');
    }
  }
  return s;
}

/** Cuts to `max` UTF-16 units without splitting a surrogate pair. */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.slice(0, end);
}

/**
 * A header value (user agent, referer, host...) as bounded, valid, printable text: the first
 * of an array, '' for anything not a string, non-UTF-8 bytes read as latin1, control
 * characters replaced by U+FFFD, at most `maxLength` UTF-16 units (whole code points).
 *
 * @example
 * sanitizeHeaderValue(req.headers['user-agent'], 1024); // 'curl/8.5.0'
 * sanitizeHeaderValue(['a', 'b'], 1024);                 // 'a'
 * sanitizeHeaderValue('evil\r\nX: 1', 1024);              // 'evil\ufffd\ufffdX: 1'
 */
export function sanitizeHeaderValue(value: unknown, maxLength: number): string {
  let s = typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '';
  // The common case: short printable ASCII, nothing to do.
  if (s.length <= maxLength && PRINTABLE_ASCII.test(s)) return s;
  let wasCut = false;
  // Bound the work before decoding: a code point is at most 4 latin1-read bytes.
  if (s.length > maxLength * 4) {
    s = s.slice(0, maxLength * 4);
    wasCut = true;
  }
  if (NON_ASCII.test(s)) s = toValidText(s, wasCut);
  return cut(s.replace(CONTROL, '\ufffd'), maxLength);
}

function decodePercent(s: string): string {
  try {
    // %25 stays encoded, so a '%' in the result always starts an escape; decodeURI keeps
    // reserved escapes (%2F, %3F, %23...) too, so the path's structure is unchanged.
    return s.indexOf('%25') === -1 ? decodeURI(s) : s.split('%25').map(decodeURI).join('%25');
  } catch {
    return s; // invalid percent-encoding or escapes that are not UTF-8: keep the raw text
  }
}

const escapeControl = (c: string): string => encodeURIComponent(c);

/**
 * A request path with query as bounded, valid, printable text. Percent-escapes are decoded
 * where they form UTF-8 (`/caf%C3%A9` -> `/café`) except reserved characters and `%25`,
 * which stay encoded; invalid escapes keep the raw text (never a throw). Raw non-ASCII bytes
 * are read as UTF-8 when they are, control characters are percent-escaped, and the result
 * is cut to `maxLength` UTF-16 units on a code-point boundary, never inside an escape.
 *
 * @example
 * sanitizePath('/caf%C3%A9?q=a%26b', 2048); // '/café?q=a%26b'
 * sanitizePath('/bad%E0%A4%A', 2048);       // '/bad%E0%A4%A' (kept raw)
 * sanitizePath('/a%0Ab', 2048);             // '/a%0Ab' (control characters stay escaped)
 */
export function sanitizePath(raw: unknown, maxLength: number): string {
  if (typeof raw !== 'string') return '';
  // The common case: a short plain-ASCII path, returned after one regex test.
  if (raw.length <= maxLength && PLAIN_PATH.test(raw)) return raw;
  let s = raw;
  let wasCut = false;
  // Bound the work: one code point is at most 12 characters of percent-escapes.
  if (s.length > maxLength * 12) {
    s = s.slice(0, maxLength * 12);
    wasCut = true;
  }
  if (NON_ASCII.test(s)) s = toValidText(s, wasCut);
  if (s.indexOf('%') !== -1) s = decodePercent(s);
  s = s.replace(CONTROL, escapeControl);
  if (s.length <= maxLength) return s;
  s = cut(s, maxLength);
  const pct = s.lastIndexOf('%');
  if (pct !== -1 && pct >= s.length - 2) s = s.slice(0, pct);
  return s;
}

/**
 * The request method for the event: known methods as they are, other valid tokens
 * upper-cased (at most 32 characters), anything else "OTHER".
 *
 * @example
 * normaliseMethod('GET');      // 'GET'
 * normaliseMethod('propfind'); // 'PROPFIND'
 * normaliseMethod('G E T');    // 'OTHER'
 */
export function normaliseMethod(method: unknown): string {
  if (typeof method !== 'string') return 'OTHER';
  if (KNOWN_METHODS.has(method)) return method;
  return METHOD_TOKEN.test(method) ? method.toUpperCase() : 'OTHER';
}
