/**
 * What a request is counted under. An IPv4 client is one address; an IPv6 client usually
 * holds a whole /64 (SLAAC, privacy addresses), so counting per address would let it
 * rotate through 2^64 fresh limits: IPv6 is counted per prefix, /64 by default.
 */
import { createHash } from 'node:crypto';
import { EmitterOptionError } from '../errors.ts';

/** Longest user id or username used as is in a key; longer ones are hashed (keys stay small whatever a client sends). */
export const MAX_KEY_PART_LENGTH = 128;

/** Checks the `ipv6Prefix` option: a whole number of bits from 1 to 128. */
export function validIpv6Prefix(bits: unknown, name = 'ipv6Prefix'): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 128) {
    throw new EmitterOptionError(`${name} must be a prefix length from 1 to 128 (default 64: one IPv6 customer network), not ${JSON.stringify(bits)}`);
  }
  return bits;
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/;

function parseGroups(s: string | undefined): number[] | null {
  if (s === undefined || s === '') return [];
  const out: number[] = [];
  for (const g of s.split(':')) {
    if (!HEX_GROUP.test(g)) return null;
    out.push(parseInt(g, 16));
  }
  return out;
}

/** The 8 groups of an IPv6 address in canonical or any valid text form, or null. */
function v6Groups(ip: string): number[] | null {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    // a dotted IPv4 tail ("64:ff9b::192.0.2.1") is two groups written another way
    const b = text.slice(lastColon + 1).split('.').map(Number);
    if (b.length !== 4 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
    text = `${text.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const left = parseGroups(halves[0]);
  const right = parseGroups(halves[1]);
  if (!left || !right) return null;
  const given = left.length + right.length;
  if (halves.length === 2) {
    if (given > 7) return null;
    return [...left, ...new Array<number>(8 - given).fill(0), ...right];
  }
  return given === 8 ? left : null;
}

/** RFC 5952 text of 8 groups: the longest run (>= 2) of zero groups compressed, the first if tied. */
function formatGroups(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * The key an address is counted under: an IPv4 address as is; IPv6 as its network,
 * e.g. "2001:db8:1:2::/64" (the whole address when the prefix is 128). IPv4-mapped IPv6
 * ("::ffff:203.0.113.7") counts as the IPv4 address. Text that is not an address is
 * returned as is (bounded), so one odd value never throws in the request path.
 *
 * @example
 * ipLimitKey('203.0.113.7');                 // '203.0.113.7'
 * ipLimitKey('2001:db8:1:2:a:b:c:d');        // '2001:db8:1:2::/64'
 * ipLimitKey('2001:db8:1:2:a:b:c:d', 48);    // '2001:db8:1::/48'
 */
export function ipLimitKey(ip: string, v6PrefixBits = 64): string {
  // The common case: dotted IPv4, already canonical; one indexOf, no parsing.
  if (ip.indexOf(':') === -1) return ip;
  if (ip.length > 7 && ip.startsWith('::ffff:') && ip.indexOf('.') !== -1) return ip.slice(7);
  // NAT64 (RFC 6052 well-known prefix): each IPv4 client behind the translator is its own client,
  // not one /64 shared by all of them.
  if (ip.startsWith('64:ff9b::')) {
    const g = v6Groups(ip.toLowerCase());
    if (g !== null && g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) {
      return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
    }
  }
  const groups = v6Groups(ip.length > 45 ? '' : ip.toLowerCase());
  if (groups === null) return ip.length > 64 ? ip.slice(0, 64) : ip;
  if (v6PrefixBits >= 128) return formatGroups(groups);
  const full = v6PrefixBits >> 4;
  const partial = v6PrefixBits & 15;
  for (let i = full; i < 8; i++) {
    groups[i] = i === full && partial > 0 ? groups[i]! & ((0xffff << (16 - partial)) & 0xffff) : 0;
  }
  return `${formatGroups(groups)}/${v6PrefixBits}`;
}

const PLAIN_KEY_PART = /^[\x21-\x7e]{1,128}$/;

/**
 * A user id or username made safe to be part of a key and an event: printable ASCII of
 * at most 128 characters is kept as is; anything else (long, spaces, control or non-ASCII
 * characters) becomes "sha256:<first 32 hex>" of its UTF-8 bytes, so a client cannot make
 * keys large or ambiguous. Returns null for an empty value.
 *
 * @example
 * keyPart('alice');         // 'alice'
 * keyPart('x'.repeat(500)); // 'sha256:…'
 */
export function keyPart(value: string): string | null {
  if (value.length === 0) return null;
  // A plain value that looks like a hashed one is hashed too, so no two values share a key.
  if (PLAIN_KEY_PART.test(value) && !value.startsWith('sha256:')) return value;
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 32)}`;
}

/**
 * The key a login's username is counted under: one person, one key (compatibility forms folded
 * with NFKC as Django does, invisible characters dropped, case ignored). Null for an empty name.
 *
 * @example
 * usernameKey('Alice');  // 'login-user:alice'
 */
export function usernameKey(u: string): string | null {
  const part = keyPart(u.slice(0, 1024).normalize('NFKC').replace(/\p{Default_Ignorable_Code_Point}/gu, '').trim().toLowerCase());
  return part === null ? null : `login-user:${part}`;
}
