/**
 * Reads web-server access logs in the Apache/nginx "combined" format into RequestEvents,
 * so history from before ipwatch (or from apps that cannot run the emitter) can be
 * imported. Every field is hostile text: it goes through the emitter's own sanitisers.
 */
import { randomUUID } from 'node:crypto';
import { canonicalIp } from '@ipwatch/core/ip';
import type { RequestEvent } from '@ipwatch/core/schemas';
import { normaliseMethod, sanitizeHeaderValue, sanitizePath } from '@ipwatch/emitter';

const COMBINED = /^(\S+) \S+ (\S+) \[(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "(\S+) (\S+)(?: [^"]*)?" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?/;
const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

export type ParsedLine = { ok: true; event: RequestEvent } | { ok: false; reason: string };

export interface ParseOptions {
  app: string;
  /** Recorded as the event's instance (default 'replay'). */
  instance?: string;
  host?: string;
  maxPathLength?: number;
  maxHeaderLength?: number;
}

export function parseCombinedLine(line: string, options: ParseOptions): ParsedLine {
  const m = COMBINED.exec(line);
  if (!m) return { ok: false, reason: 'not in the combined log format' };
  const ip = canonicalIp(m[1]!);
  if (!ip) return { ok: false, reason: `client ${JSON.stringify(m[1]!.slice(0, 64))} is not an IP address` };
  const month = MONTHS[m[4]!.toLowerCase()];
  if (month === undefined) return { ok: false, reason: `unknown month ${JSON.stringify(m[4])}` };
  const tz = m[9]!;
  const offsetMin = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5)));
  const ts = Date.UTC(Number(m[5]), month, Number(m[3]), Number(m[6]), Number(m[7]), Number(m[8])) - offsetMin * 60_000;
  if (Number.isNaN(ts)) return { ok: false, reason: 'bad timestamp' };
  const maxH = options.maxHeaderLength ?? 1024;
  const user = m[2] === '-' ? null : sanitizeHeaderValue(m[2], 256);
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
