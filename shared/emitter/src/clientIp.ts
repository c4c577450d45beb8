/**
 * Which address is the client: the socket peer, unless that peer is a proxy we were told to
 * trust, in which case we walk the forwarding header right to left, one trusted hop at a
 * time. Only addresses appended by trusted proxies are believed; whatever the client wrote
 * itself (the left part of the header) is never taken on faith.
 *
 * Rules are compiled once (CIDRs to bigint masks, exact addresses to a Set); each request
 * only parses addresses and looks them up.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { formatIp, InvalidAddressError, mask, parseCidr, parseIp, type ParsedIp } from '@ipwatch/core/ip';
import { BoundedMap } from './boundedMap.ts';
import { EmitterOptionError } from './errors.ts';
import { oneOf, wholeNumber } from './optionChecks.ts';

/** Which forwarding header(s) a trusted proxy sets. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded' | 'both';

/** Where the resolved address came from. */
export type ClientIpSource = 'socket' | 'x-forwarded-for' | 'forwarded';

export interface ClientIpOptions {
  /**
   * Addresses or CIDRs of your proxies (load balancer, CDN egress, ingress), or the names
   * `loopback`, `private` (RFC 1918 and fc00::/7), `linklocal`. Default: none.
   */
  trustedProxies?: string[];
  /** Alternative to `trustedProxies`: trust exactly this many proxy hops, the socket peer being the first. */
  trustedHops?: number;
  /**
   * Which header your proxies set. Default `x-forwarded-for`, the one nearly every proxy
   * and load balancer sets. `forwarded` reads RFC 7239 instead; `both` prefers
   * X-Forwarded-For and falls back to Forwarded, which is only safe when your proxies set
   * both: a header the proxy does not set passes through it untouched, so a client could
   * supply it.
   */
  header?: ForwardedHeader;
}

export interface ClientIp {
  /** Canonical text form (core's canonicalIp): IPv4-mapped IPv6 unwrapped, no port, no zone. */
  ip: string;
  source: ClientIpSource;
}

/** Given the socket's peer address and the request headers, returns the client. Never throws. */
export type ClientIpResolver = (remoteAddress: string | undefined, headers: IncomingHttpHeaders) => ClientIp;

/**
 * What a request from a socket without a known peer address (a closed socket, a Unix socket)
 * resolves to: the unspecified address, which classifyIp calls 'unspecified'.
 *
 * @example
 * if (event.ip === UNKNOWN_IP) console.warn('request from a socket with no peer address');
 */
export const UNKNOWN_IP = '0.0.0.0';

/**
 * Longest header tail read, in characters: the hops that matter are the rightmost ones.
 *
 * @example
 * server.maxHeaderSize >= MAX_FORWARDED_HEADER_LENGTH; // longer X-Forwarded-For values are read from the right end
 */
export const MAX_FORWARDED_HEADER_LENGTH = 8 * 1024;
/**
 * Most hops walked; a longer chain of trusted proxies stops at the 30th.
 *
 * @example
 * createClientIpResolver({ trustedHops: MAX_FORWARDED_HOPS }); // the most hops one can trust
 */
export const MAX_FORWARDED_HOPS = 30;

const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

interface CompiledRange {
  network: bigint;
  mask: bigint;
}

interface TrustRules {
  exact4: Set<bigint>;
  exact6: Set<bigint>;
  ranges4: CompiledRange[];
  ranges6: CompiledRange[];
}

function compileTrustedProxies(entries: unknown): TrustRules {
  if (!Array.isArray(entries)) {
    throw new EmitterOptionError(`trustedProxies must be an array of IP addresses or CIDRs, e.g. ['10.0.0.0/8'], not ${JSON.stringify(entries)}`);
  }
  const rules: TrustRules = { exact4: new Set(), exact6: new Set(), ranges4: [], ranges6: [] };
  for (const entry of entries) {
    if (typeof entry !== 'string') {
      throw new EmitterOptionError(`trustedProxies: ${JSON.stringify(entry)} is not a string; give IP addresses or CIDRs such as '10.0.0.0/8'`);
    }
    const named = NAMED_RANGES[entry.trim().toLowerCase()];
    for (const text of named ?? [entry]) {
      let cidr;
      try {
        cidr = parseCidr(text);
      } catch (err) {
        const why = err instanceof InvalidAddressError ? err.message : String(err);
        throw new EmitterOptionError(`trustedProxies: invalid entry ${JSON.stringify(entry)}: ${why}`);
      }
      const bits = cidr.version === 4 ? 32 : 128;
      // A full-length prefix is one address: a Set lookup instead of a mask per range.
      if (cidr.prefix === bits) (cidr.version === 4 ? rules.exact4 : rules.exact6).add(cidr.network);
      else (cidr.version === 4 ? rules.ranges4 : rules.ranges6).push({ network: cidr.network, mask: mask(cidr.version, cidr.prefix) });
    }
  }
  return rules;
}

function trustedByRules(rules: TrustRules, ip: ParsedIp): boolean {
  const v4 = ip.version === 4;
  if ((v4 ? rules.exact4 : rules.exact6).has(ip.value)) return true;
  for (const r of v4 ? rules.ranges4 : rules.ranges6) if ((ip.value & r.mask) === r.network) return true;
  return false;
}

/** One header value whatever the framework hands us: node joins duplicates with ", ", others give arrays. */
function headerText(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(',');
  return undefined;
}

/**
 * The address of one RFC 7239 forwarded-element (`for=...;proto=...;by=...`), or null when it
 * has none we can use: no `for`, two of them, an obfuscated identifier (`_hidden`) or `unknown`.
 */
function forwardedFor(element: string): ParsedIp | null {
  let value: string | null = null;
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    if (value !== null) return null;
    value = pair.slice(eq + 1).trim();
  }
  if (value === null) return null;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
  // Obfuscated identifiers and "unknown" name a hop we cannot check: the walk stops there.
  if (value.startsWith('_') || value.toLowerCase() === 'unknown') return null;
  return parseIp(value);
}

/**
 * Compiles the trust rules once and returns a resolver for each request. By default nobody
 * is trusted and the client is the socket peer, whatever the headers say.
 *
 * The walk starts at the socket peer. While the current hop is trusted it steps one entry
 * left in the header; the first untrusted address is the client. When an entry cannot be
 * read (not an IP, `unknown`, an obfuscated identifier, an empty entry) or the chain exceeds
 * 30 hops, the walk stops at the last address it reached, which a trusted proxy vouched for.
 * Headers longer than 8 KB are read from their right end only, so a client cannot pad the
 * header to push the real hops out of reach.
 *
 * Invalid `trustedProxies` entries throw an EmitterOptionError naming the entry.
 *
 * @example
 * const clientIp = createClientIpResolver({ trustedProxies: ['10.0.0.0/8'], header: 'x-forwarded-for' });
 * // behind a load balancer at 10.0.0.5 that appended the real peer:
 * clientIp('10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' });
 * // => { ip: '203.0.113.7', source: 'x-forwarded-for' }
 * clientIp('198.51.100.9', { 'x-forwarded-for': '1.1.1.1' }); // untrusted peer: header ignored
 * // => { ip: '198.51.100.9', source: 'socket' }
 */
export function createClientIpResolver(options: ClientIpOptions = {}): ClientIpResolver {
  // Not 'both' by default: behind a proxy that sets only one header, the other is the client's to forge.
  const { trustedProxies, trustedHops, header = 'x-forwarded-for' } = options;
  oneOf('header', header, ['x-forwarded-for', 'forwarded', 'both'], { 'x-forwarded-for': 'the default', forwarded: 'RFC 7239' });
  if (trustedProxies !== undefined && trustedHops !== undefined) {
    throw new EmitterOptionError('give either trustedProxies (which addresses are your proxies) or trustedHops (how many proxies are in front), not both');
  }
  if (trustedHops !== undefined) wholeNumber('trustedHops', trustedHops, 0, MAX_FORWARDED_HOPS);
  const rules = trustedProxies === undefined ? null : compileTrustedProxies(trustedProxies);
  const hops = trustedHops ?? 0;
  const trustsNobody = rules === null ? hops === 0 : rules.exact4.size + rules.exact6.size + rules.ranges4.length + rules.ranges6.length === 0;
  /** Is the address at `hop` (0 = socket peer) a proxy whose header entries we believe? */
  const isTrusted = (ip: ParsedIp, hop: number): boolean => (rules === null ? hop < hops : trustedByRules(rules, ip));
  const readXff = header !== 'forwarded';
  const readForwarded = header !== 'x-forwarded-for';

  // Socket peers repeat (keep-alive, a few proxies): parsing costs BigInt work, a Map hit does not.
  const peers = new BoundedMap<string, { parsed: ParsedIp; text: string } | null>(4096);
  const peerOf = (remoteAddress: string): { parsed: ParsedIp; text: string } | null => {
    let hit = peers.get(remoteAddress);
    if (hit === undefined) {
      const parsed = parseIp(remoteAddress);
      hit = parsed ? { parsed, text: formatIp(parsed) } : null;
      peers.set(remoteAddress, hit);
    }
    return hit;
  };

  return function resolveClientIp(remoteAddress, headers) {
    const peer = typeof remoteAddress === 'string' ? peerOf(remoteAddress) : null;
    if (peer === null) return { ip: UNKNOWN_IP, source: 'socket' };
    if (trustsNobody || !isTrusted(peer.parsed, 0)) return { ip: peer.text, source: 'socket' };

    let text: string | undefined;
    let source: ClientIpSource = 'x-forwarded-for';
    if (readXff) text = headerText(headers['x-forwarded-for']);
    if (readForwarded && (text === undefined || text === '')) {
      text = headerText(headers['forwarded']);
      source = 'forwarded';
    }
    if (text === undefined || text === '') return { ip: peer.text, source: 'socket' };

    let end = text.length;
    let start = Math.max(0, end - MAX_FORWARDED_HEADER_LENGTH);
    if (start > 0) {
      // Only the right end is read; the first entry of the tail may be cut, so skip it.
      const comma = text.indexOf(',', start);
      start = comma < 0 ? end : comma + 1;
    }
    let result: ClientIp = { ip: peer.text, source: 'socket' };
    for (let hop = 1; hop <= MAX_FORWARDED_HOPS && end > start; hop++) {
      const comma = text.lastIndexOf(',', end - 1);
      const entryStart = comma < start ? start : comma + 1;
      const entry = text.slice(entryStart, end);
      end = comma < start ? start : comma;
      const parsed = source === 'forwarded' ? forwardedFor(entry) : parseIp(entry);
      if (parsed === null) break; // garbage: stay at the last address a trusted hop vouched for
      result = { ip: formatIp(parsed), source };
      if (!isTrusted(parsed, hop)) break;
    }
    return result;
  };
}
