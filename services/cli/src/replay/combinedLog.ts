/**
 * Reads web-server access logs in the Apache/nginx "combined" and "common" formats into
 * RequestEvents, so history from before ipwatch (or from apps that cannot run the emitter) can
 * be imported. Every field is hostile text: it goes through the emitter's own sanitisers.
 */
import { randomUUID } from 'node:crypto';
import { canonicalIp } from '@ipwatch/core/ip';
import type { RequestEvent } from '@ipwatch/core/schemas';
import { normaliseMethod, sanitizeHeaderValue, sanitizePath } from '@ipwatch/emitter';

const PREFIX = String.raw`^(\S+) \S+ (\S+) \[(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "(\S+) (\S+)(?: [^"]*)?" (\d{3}) (\d+|-)`;
/** Combined: common, then (optionally, so common lines read too) the quoted referer and agent. */
const COMBINED = new RegExp(`${PREFIX}(?: "((?:[^"\\\\]|\\\\.)*)" "((?:[^"\\\\]|\\\\.)*)")?`);
/** Common: nothing after the byte count, so a combined log read as common is refused, not cut. */
const COMMON = new RegExp(`${PREFIX}\\s*$`);
const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

export type ParsedLine = { ok: true; event: RequestEvent } | { ok: false; reason: string };

export interface ParseOptions {
  app: string;
  /** Recorded as the event's instance (default 'replay'). */
  instance?: string;
  /** The host recorded when the line does not say one (default ''). */
  host?: string | undefined;
  maxPathLength?: number;
  maxHeaderLength?: number;
}

/** Longest remote user kept (the emitter's user ids are bounded the same way). */
export const MAX_USER_LENGTH = 256;

/**
 * One line of the combined format (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`);
 * a common-format line (no referer and agent) reads too.
 *
 * @example
 * parseCombinedLine('1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8"', { app: 'web' });
 */
export function parseCombinedLine(line: string, options: ParseOptions): ParsedLine {
  const m = COMBINED.exec(line);
  if (!m) return { ok: false, reason: 'not in the combined log format' };
  return fromMatch(m, options);
}

/**
 * One line of the common format (`%h %l %u %t "%r" %>s %b`): no referer, no user agent.
 *
 * @example
 * parseCommonLine('1.2.3.4 - alice [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 512', { app: 'web' });
 */
export function parseCommonLine(line: string, options: ParseOptions): ParsedLine {
  const m = COMMON.exec(line);
  if (m) return fromMatch(m, options);
  return { ok: false, reason: COMBINED.test(line) ? 'text after the byte count: this looks like the combined format (--format combined)' : 'not in the common log format' };
}

/** True when the line is combined with its referer and agent (not merely common). */
export function hasRefererAndAgent(line: string): boolean {
  const m = COMBINED.exec(line);
  return m !== null && m[15] !== undefined;
}

function fromMatch(m: RegExpExecArray, options: ParseOptions): ParsedLine {
  const ip = canonicalIp(m[1]!);
  if (!ip) return { ok: false, reason: `client ${JSON.stringify(m[1]!.slice(0, 64))} is not an IP address` };
  const ts = parseLocalTime(m[3]!, m[4]!, m[5]!, m[6]!, m[7]!, m[8]!, m[9]!);
  if (typeof ts === 'string') return { ok: false, reason: ts };
  const maxH = options.maxHeaderLength ?? 1024;
  const user = m[2] === '-' ? null : sanitizeHeaderValue(m[2], MAX_USER_LENGTH);
  return {
    ok: true,
    event: {
      id: randomUUID(),
      ts,
      ip,
      ipAnonymisation: 'off',
      app: options.app,
      instance: options.instance ?? 'replay',
      method: normaliseMethod(m[10]),
      host: options.host ?? '',
      path: sanitizePath(m[11], options.maxPathLength ?? 2048),
      status: Number(m[12]),
      latencyMs: 0,
      bytes: m[13] === '-' ? 0 : Number(m[13]),
      userAgent: sanitizeHeaderValue(m[15] ?? '', maxH),
      referer: m[14] === '-' ? '' : sanitizeHeaderValue(m[14] ?? '', maxH),
      userId: user,
      authenticated: user !== null,
      blocked: false,
      rateLimited: false,
    },
  };
}

const LOCAL_TIME = /^(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})$/;

/**
 * A `[10/Oct/2000:13:55:36 -0700]` time (without the brackets) as epoch milliseconds, or why
 * it is not one. nginx's $time_local has the same shape.
 */
export function parseTimeLocal(text: string): number | string {
  const m = LOCAL_TIME.exec(text);
  if (!m) return `time ${JSON.stringify(text.slice(0, 40))} is not like 10/Oct/2000:13:55:36 -0700`;
  return parseLocalTime(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7]!);
}

function parseLocalTime(day: string, mon: string, year: string, h: string, min: string, s: string, tz: string): number | string {
  const month = MONTHS[mon.toLowerCase()];
  if (month === undefined) return `unknown month ${JSON.stringify(mon)}`;
  const offsetMin = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5)));
  const ts = Date.UTC(Number(year), month, Number(day), Number(h), Number(min), Number(s)) - offsetMin * 60_000;
  if (Number.isNaN(ts)) return 'bad timestamp';
  return ts;
}
