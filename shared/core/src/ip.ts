/**
 * IP addresses and CIDR ranges: strict parsing, one canonical text form, and the special
 * ranges (private, loopback, reserved...). Every part of ipwatch keys data by the canonical
 * form, so "::FFFF:1.2.3.4", "1.2.3.4" and "[1.2.3.4]:80" all become "1.2.3.4".
 */
import { IpwatchError } from './errors.ts';

export type IpVersion = 4 | 6;

export interface ParsedIp {
  version: IpVersion;
  /** The address as an integer: 32 bits for IPv4, 128 bits for IPv6. */
  value: bigint;
}

export interface ParsedCidr {
  version: IpVersion;
  /** Network address (host bits zero). */
  network: bigint;
  prefix: number;
}

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseV4(text: string): bigint | null {
  if (!V4_RE.test(text)) return null;
  const p = text.split('.');
  return BigInt(((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3]));
}

function parseV6(text: string): bigint | null {
  if (text.length > 45 || text.length < 2) return null;
  let head = text;
  let v4Tail: bigint | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    v4Tail = parseV4(text.slice(lastColon + 1));
    if (v4Tail === null) return null;
    head = text.slice(0, lastColon + 1) + '0:0'; // placeholder groups, replaced below
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!left || !right) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  if (v4Tail !== null) value = (value & ~0xffffffffn) | v4Tail;
  return value;
}

/**
 * Parses an address as it may arrive from a socket or a header: IPv4, IPv6, "[v6]",
 * "[v6]:port", "v4:port", with an IPv6 zone ("%eth0") dropped. IPv4-mapped IPv6 becomes IPv4.
 * Returns null for anything else.
 */
export function parseIp(input: string): ParsedIp | null {
  let text = input.trim();
  if (text.length === 0 || text.length > 64) return null;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return null;
    const rest = text.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    text = text.slice(1, end);
  } else if (text.indexOf(':') !== -1 && text.indexOf(':') === text.lastIndexOf(':') && text.includes('.')) {
    // "1.2.3.4:8080": exactly one colon and a dot means an IPv4 address with a port.
    const [host, port] = text.split(':') as [string, string];
    if (!/^\d{1,5}$/.test(port)) return null;
    text = host;
  }
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const v4 = parseV4(text);
  if (v4 !== null) return { version: 4, value: v4 };
  const v6 = parseV6(text);
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { version: 4, value: v6 & 0xffffffffn };
  return { version: 6, value: v6 };
}

export function formatIp(ip: ParsedIp): string {
  if (ip.version === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first if tied.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text form of an address, or null if it is not one. */
export function canonicalIp(input: string): string | null {
  // Most addresses arrive as plain dotted IPv4, already canonical (V4_RE refuses leading
  // zeros): one regex test instead of a BigInt parse and format.
  if (input.length <= 15 && V4_RE.test(input)) return input;
  const p = parseIp(input);
  return p ? formatIp(p) : null;
}

export function isIp(input: string): boolean {
  return parseIp(input) !== null;
}

/** The address as IPv6 text as ClickHouse's IPv6 column stores it (IPv4 mapped into ::ffff:0:0/96). */
export function toIpv6Column(ip: ParsedIp): string {
  return ip.version === 4 ? `::ffff:${formatIp(ip)}` : formatIp(ip);
}

export function mask(version: IpVersion, prefix: number): bigint {
  const bits = version === 4 ? 32 : 128;
  if (prefix === 0) return 0n;
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

export class InvalidAddressError extends IpwatchError {
  override readonly name = 'InvalidAddressError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_INVALID_ADDRESS', message, options);
  }
}

/**
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Throws
 * InvalidAddressError saying what is wrong: ipwatch refuses a CIDR with host bits set
 * rather than guessing which network was meant.
 */
export function parseCidr(input: string): ParsedCidr {
  const text = input.trim();
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip || addrText.includes('[') || /%/.test(addrText)) {
    throw new InvalidAddressError(`${JSON.stringify(input)} is not an IP address or CIDR (expected e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32)`);
  }
  const bits = ip.version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    const mapped = ip.version === 4 && addrText.includes(':');
    const maxBits = mapped ? 128 : bits;
    if (!/^\d{1,3}$/.test(p) || Number(p) > maxBits) {
      throw new InvalidAddressError(`${JSON.stringify(input)}: the prefix length must be a number from 0 to ${maxBits} for IPv${mapped ? 6 : ip.version}`);
    }
    prefix = Number(p);
    // An IPv4-mapped CIDR like ::ffff:10.0.0.0/104 is read as the IPv4 /8 it names.
    if (mapped) {
      if (prefix < 96) throw new InvalidAddressError(`${JSON.stringify(input)}: an IPv4-mapped CIDR needs a prefix of at least 96 (::ffff:0:0/96 is all of IPv4); or write the IPv4 range itself, e.g. 10.0.0.0/8`);
      prefix -= 96;
    }
  }
  const m = mask(ip.version, prefix);
  if ((ip.value & ~m & (bits === 32 ? 0xffffffffn : (1n << 128n) - 1n)) !== 0n) {
    const network = formatIp({ version: ip.version, value: ip.value & m });
    throw new InvalidAddressError(`${JSON.stringify(input)} has host bits set: did you mean ${network}/${prefix}?`);
  }
  return { version: ip.version, network: ip.value & m, prefix };
}

export function formatCidr(c: ParsedCidr): string {
  return `${formatIp({ version: c.version, value: c.network })}/${c.prefix}`;
}

export function cidrContains(c: ParsedCidr, ip: ParsedIp): boolean {
  return c.version === ip.version && (ip.value & mask(c.version, c.prefix)) === c.network;
}

export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'cgnat'
  | 'documentation'
  | 'reserved';

const SPECIAL_RANGES: Array<[string, AddressClass]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'reserved'],
  ['100::/64', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['2001::/23', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
];
const SPECIAL = SPECIAL_RANGES.map(([cidr, cls]) => ({ cidr: parseCidr(cidr), cls }));

/** Which kind of address this is; only 'public' addresses have a place on the map. */
export function classifyIp(ip: ParsedIp): AddressClass {
  for (const { cidr, cls } of SPECIAL) if (cidrContains(cidr, ip)) return cls;
  // Outside 2000::/3 nothing is allocated for global unicast yet.
  if (ip.version === 6 && ip.value >> 125n !== 1n) return 'reserved';
  return 'public';
}
