/**
 * Reads nginx access logs written with `log_format ... escape=json`: one JSON object per line.
 * The keys read are the nginx variable names (NGINX_JSON_KEYS); nginx writes every value as a
 * string, other writers may write numbers, both are read. Every value is hostile: a key of
 * the wrong type refuses the line (naming the key), text goes through the emitter's sanitisers.
 */
import { randomUUID } from 'node:crypto';
import { canonicalIp } from '@ipwatch/core/ip';
import { normaliseMethod, sanitizeHeaderValue, sanitizePath } from '@ipwatch/emitter';
import { MAX_USER_LENGTH, parseTimeLocal, type ParseOptions, type ParsedLine } from './combinedLog.ts';

/** What --help says about the keys, one per line. */
export const NGINX_JSON_KEYS = [
  'remote_addr                        client address (required)',
  'msec | time_iso8601 | time_local   time, the first present of these (required)',
  'request_method + request_uri       or request ("GET /x HTTP/1.1") (required)',
  'status                             required',
  'body_bytes_sent | bytes_sent       response bytes (default 0)',
  'request_time                       seconds, to latency in ms (default 0)',
  'http_user_agent, http_referer, remote_user, host | http_host',
] as const;

const ISO8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const DECIMAL = /^\d{1,15}(?:\.\d{1,9})?$/;
const REQUEST_LINE = /^(\S+) (\S+)(?: [^\s]*)?$/;

type Fields = Record<string, unknown>;

/**
 * One line of an nginx `escape=json` log.
 *
 * @example
 * parseNginxJsonLine('{"remote_addr":"1.2.3.4","time_iso8601":"2026-01-01T00:00:00+00:00","request":"GET / HTTP/1.1","status":"200"}', { app: 'web' });
 */
export function parseNginxJsonLine(line: string, options: ParseOptions): ParsedLine {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not a JSON object (nginx-json wants one object per line)' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object (nginx-json wants one object per line)' };
  const f = doc as Fields;
  try {
    const addr = requiredText(f, 'remote_addr');
    const ip = canonicalIp(addr);
    if (!ip) return { ok: false, reason: `remote_addr ${JSON.stringify(addr.slice(0, 64))} is not an IP address` };
    const ts = readTime(f);
    const { method, uri } = readRequest(f);
    const status = readNumber(f, 'status');
    if (status === undefined) throw new FieldError('status is missing');
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new FieldError(`status ${status} is not an HTTP status`);
    const bytes = readNumber(f, 'body_bytes_sent') ?? readNumber(f, 'bytes_sent') ?? 0;
    if (!Number.isSafeInteger(bytes)) throw new FieldError(`byte count ${bytes} is not a whole number`);
    const seconds = readNumber(f, 'request_time') ?? 0;
    const maxH = options.maxHeaderLength ?? 1024;
    const userText = optionalText(f, 'remote_user');
    const user = userText === '' ? null : sanitizeHeaderValue(userText, MAX_USER_LENGTH);
    const host = optionalText(f, 'host') || optionalText(f, 'http_host');
    return {
      ok: true,
      event: {
        id: randomUUID(),
        ts,
        ip,
        ipAnonymisation: 'off',
        app: options.app,
        instance: options.instance ?? 'replay',
        method: normaliseMethod(method),
        host: host === '' ? (options.host ?? '') : sanitizeHeaderValue(host, maxH).toLowerCase(),
        path: sanitizePath(uri, options.maxPathLength ?? 2048),
        status,
        latencyMs: Math.round(seconds * 1_000_000) / 1000,
        bytes,
        userAgent: sanitizeHeaderValue(optionalText(f, 'http_user_agent'), maxH),
        referer: sanitizeHeaderValue(optionalText(f, 'http_referer'), maxH),
        userId: user,
        authenticated: user !== null,
        blocked: false,
        rateLimited: false,
      },
    };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, reason: err.message };
    throw err;
  }
}

class FieldError extends Error {}

/** A key's own value: JSON.parse makes own properties, so 'toString' or '__proto__' never reach Object.prototype. */
function own(f: Fields, key: string): unknown {
  return Object.hasOwn(f, key) ? f[key] : undefined;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Text, with nginx's empty markers ('-', '' and a missing key) as ''. */
function optionalText(f: Fields, key: string): string {
  const v = own(f, key);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new FieldError(`${key} is ${describe(v)}, not a string`);
  return v === '-' ? '' : v;
}

function requiredText(f: Fields, key: string): string {
  const v = optionalText(f, key);
  if (v === '') throw new FieldError(`${key} is missing`);
  return v;
}

/** A non-negative number written as a JSON number or as decimal text ('-' and '' count as missing). */
function readNumber(f: Fields, key: string): number | undefined {
  const v = own(f, key);
  if (v === undefined || v === null || v === '' || v === '-') return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new FieldError(`${key} ${v} is not a non-negative number`);
    return v;
  }
  if (typeof v !== 'string') throw new FieldError(`${key} is ${describe(v)}, not a number`);
  if (!DECIMAL.test(v)) throw new FieldError(`${key} ${JSON.stringify(v.slice(0, 40))} is not a number`);
  return Number(v);
}

function readTime(f: Fields): number {
  const msec = readNumber(f, 'msec');
  if (msec !== undefined) return checkedTime(Math.round(msec * 1000), 'msec');
  const iso = optionalText(f, 'time_iso8601');
  if (iso !== '') {
    if (!ISO8601.test(iso)) throw new FieldError(`time_iso8601 ${JSON.stringify(iso.slice(0, 40))} is not like 2026-01-01T00:00:00+00:00`);
    return checkedTime(Date.parse(iso), 'time_iso8601');
  }
  const local = optionalText(f, 'time_local');
  if (local !== '') {
    const ts = parseTimeLocal(local);
    if (typeof ts === 'string') throw new FieldError(`time_local: ${ts}`);
    return ts;
  }
  throw new FieldError('no time: one of msec, time_iso8601, time_local is needed');
}

/** Years 1970 to 9999: the store's timestamps, and a bound on what a hostile number can say. */
function checkedTime(ts: number, key: string): number {
  if (!Number.isFinite(ts) || ts < 0 || ts > 253_402_300_799_999) throw new FieldError(`${key} is not a time between 1970 and 9999`);
  return ts;
}

function readRequest(f: Fields): { method: string; uri: string } {
  const method = optionalText(f, 'request_method');
  const uri = optionalText(f, 'request_uri');
  if (method !== '' && uri !== '') return { method, uri };
  const request = optionalText(f, 'request');
  if (request === '') throw new FieldError('no request: request, or request_method and request_uri, is needed');
  const m = REQUEST_LINE.exec(request);
  if (!m) throw new FieldError(`request ${JSON.stringify(request.slice(0, 64))} is not "METHOD URI PROTOCOL"`);
  return { method: m[1]!, uri: m[2]! };
}
