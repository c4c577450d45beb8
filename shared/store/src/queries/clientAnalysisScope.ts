/**
 * Which rows a client analysis reads: one IPv4 address, or for IPv6 the /64 holding the
 * address (the scorer scores IPv6 per /64, so one client's addresses are one client here
 * too), over whole clock hours. The where clauses of every clientAnalysis* query come from
 * here, as typed parameters.
 */
import { parseIp, formatIp, mask, toIpv6Column, InvalidAddressError } from '@ipwatch/core/ip';
import { refusePort } from '@ipwatch/core/blockTarget';
import { FilterError } from './requestFilter.ts';

const HOUR = 3_600_000;
/** The widest range an analysis reads: 30 days. */
export const MAX_ANALYSIS_HOURS = 720;

export interface ClientAnalysisQuery {
  /** One IP address (any form parseIp reads; IPv4-mapped IPv6 is IPv4). */
  ip: string;
  /** Whole hours ending with the current one: 1 to 720. */
  hours: number;
  /** The clock, for tests. */
  now?: number;
}

export interface ClientScope {
  /** The address asked about, canonical. */
  ip: string;
  /** What was analysed: the address itself (IPv4), or its /64 (IPv6), e.g. "2001:db8:1:2::/64". */
  client: string;
  /** 'address': only this IP's rows; 'network/64': every address of its /64. */
  kind: 'address' | 'network/64';
  /** Inclusive range of the IPv6 ip column (IPv4 mapped) the rows are read from. */
  ipFrom: string;
  ipTo: string;
  /** The address as the ip column holds it. */
  ipColumn: string;
  /** [since, until): `hours` whole clock hours, the last one the current hour. */
  since: number;
  until: number;
  hours: number;
}

/** The scope of an analysis; throws InvalidAddressError for anything but one IP address. */
export function clientScope(query: ClientAnalysisQuery): ClientScope {
  const text = String(query.ip ?? '').trim();
  refusePort(text);
  // parseIp also reads "[v6]", ports and zones as a socket gives them: an operator's address is written bare.
  const parsed = /[[\]%/]/.test(text) ? null : parseIp(text);
  if (parsed === null) {
    const range = text.includes('/') ? ': analyse one address (an IPv6 address is analysed with its /64)' : '';
    throw new InvalidAddressError(`${JSON.stringify(text.slice(0, 64))} is not an IP address (expected e.g. 203.0.113.7 or 2001:db8::1)${range}`);
  }
  if (!Number.isInteger(query.hours) || query.hours < 1 || query.hours > MAX_ANALYSIS_HOURS) throw new FilterError(`hours ${JSON.stringify(String(query.hours).slice(0, 20))} must be a whole number from 1 to ${MAX_ANALYSIS_HOURS}`);
  const now = query.now ?? Date.now();
  const until = Math.floor(now / HOUR) * HOUR + HOUR;
  const since = until - query.hours * HOUR;
  const ip = formatIp(parsed);
  if (parsed.version === 4) {
    const col = toIpv6Column(parsed);
    return { ip, client: ip, kind: 'address', ipFrom: col, ipTo: col, ipColumn: col, since, until, hours: query.hours };
  }
  const m = mask(6, 64);
  const network = parsed.value & m;
  const last = network | (~m & ((1n << 128n) - 1n));
  const from = formatIp({ version: 6, value: network });
  return { ip, client: `${from}/64`, kind: 'network/64', ipFrom: from, ipTo: formatIp({ version: 6, value: last }), ipColumn: ip, since, until, hours: query.hours };
}

/** `ip` in the scope and `ts` in the range, for a table with those two columns. */
export function scopeWhere(scope: ClientScope): { sql: string; params: Record<string, unknown> } {
  return {
    sql: 'ip BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6} AND ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})',
    params: { ipFrom: scope.ipFrom, ipTo: scope.ipTo, since: scope.since, until: scope.until },
  };
}

/** Numbers as JSON numbers, not quoted 64-bit strings. */
export const NUMBER_SETTINGS = { output_format_json_quote_64bit_integers: 0 } as const;
