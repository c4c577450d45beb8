/**
 * What people type when they block or allow: an IP or a CIDR, and an expiry. Both are
 * checked here, once, for the api and the CLI alike, and refused with a message that says
 * what was wrong and what to type instead.
 */
import { canonicalIp, parseCidr, formatCidr, mask, InvalidAddressError, type ParsedCidr } from './ip.ts';
import { IpwatchError } from './errors.ts';

export { InvalidAddressError };

/** A bad expiry, reason or severity: the message is for the person who typed it. */
export class DecisionInputError extends IpwatchError {
  override readonly name = 'DecisionInputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_BAD_DECISION', message, options);
  }
}

/**
 * The canonical key of a block or allow target: an address as canonicalIp gives it
 * ("203.0.113.7", "2001:db8::1"; a /32 or /128 becomes the bare address), or a CIDR with its
 * host bits zero ("10.0.0.0/8"). IPv4-mapped IPv6 becomes IPv4. Throws InvalidAddressError.
 *
 * @example
 * parseBlockTarget('::ffff:10.0.0.0/104'); // '10.0.0.0/8'
 * parseBlockTarget('10.0.0.5/24');         // throws: has host bits set: did you mean 10.0.0.0/24?
 */
export function parseBlockTarget(input: string): string {
  const text = String(input ?? '').trim();
  if (text.length === 0 || text.length > 64) {
    throw new InvalidAddressError(`${JSON.stringify(text.slice(0, 80))} is not an IP address or CIDR (expected e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48)`);
  }
  refusePort(text);
  if (!text.includes('/')) {
    const ip = canonicalIp(text);
    if (ip === null || text.includes('[') || text.includes('%')) {
      throw new InvalidAddressError(`${JSON.stringify(text)} is not an IP address or CIDR (expected e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48)`);
    }
    return ip;
  }
  const cidr = parseCidr(text);
  const full = cidr.version === 4 ? 32 : 128;
  return cidr.prefix === full ? formatCidr(cidr).slice(0, -(String(full).length + 1)) : formatCidr(cidr);
}

/**
 * Throws when an address is written with a port ("203.0.113.7:80", "[2001:db8::1]:443"):
 * a block or filter applies to the whole address, and quietly dropping the port would act
 * on more than was asked.
 */
export function refusePort(text: string): void {
  const address = text.split('/')[0]!;
  const v4Port = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d*)$/.exec(address);
  const v6Port = /^\[([0-9A-Fa-f:.]+)\]:(\d*)$/.exec(address);
  const [, host] = v4Port ?? v6Port ?? [];
  if (host === undefined) return;
  throw new InvalidAddressError(
    `${JSON.stringify(text.slice(0, 64))} has a port: a block or filter applies to every port of an address, so write the address alone (${host})`,
  );
}

/** Widest range (as a prefix length) a block may cover without force, per IP version. */
export interface BlockScope {
  maxPrefixV4: number;
  maxPrefixV6: number;
}

/** /16 of IPv4 is 65,536 addresses; /32 of IPv6 is a large provider's whole allocation. */
export const DEFAULT_BLOCK_SCOPE: Readonly<BlockScope> = Object.freeze({ maxPrefixV4: 16, maxPrefixV6: 32 });

/** Addresses of the operator's own side: a range holding any of them may cut off proxies, health checks, the host itself. */
const OWN_NETWORKS: ReadonlyArray<[ParsedCidr, string]> = (
  [
    ['127.0.0.0/8', 'loopback'],
    ['10.0.0.0/8', 'private'],
    ['172.16.0.0/12', 'private'],
    ['192.168.0.0/16', 'private'],
    ['169.254.0.0/16', 'link-local'],
    ['::1/128', 'loopback'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
  ] as const
).map(([cidr, kind]) => [parseCidr(cidr), kind]);

function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  if (a.version !== b.version) return false;
  const m = mask(a.version, Math.min(a.prefix, b.prefix));
  return (a.network & m) === (b.network & m);
}

/** A block that sweeps more than it should without force. */
export class BlockTooWideError extends IpwatchError {
  override readonly name = 'BlockTooWideError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_BLOCK_TOO_WIDE', message, options);
  }
}

/**
 * Why blocking `target` (canonical, as parseBlockTarget gives it) would sweep more than one
 * person's traffic: a range wider than `scope` allows, or a range holding loopback, private
 * or link-local addresses. Null when it does not; a single address never does.
 *
 * @example
 * blockSweep('0.0.0.0/0');   // '0.0.0.0/0 is a /0, wider than ...; it holds loopback addresses (127.0.0.0/8), ...'
 * blockSweep('10.1.0.0/24'); // '10.1.0.0/24 holds private addresses (10.0.0.0/8), ...'
 * blockSweep('203.0.113.0/24'); // null
 */
export function blockSweep(target: string, scope: Readonly<BlockScope> = DEFAULT_BLOCK_SCOPE): string | null {
  if (!target.includes('/')) return null;
  const cidr = parseCidr(target);
  const [max, variable] = cidr.version === 4 ? [scope.maxPrefixV4, 'IPWATCH_BLOCK_MAX_PREFIX_V4'] : [scope.maxPrefixV6, 'IPWATCH_BLOCK_MAX_PREFIX_V6'];
  const reasons: string[] = [];
  if (cidr.prefix < max) reasons.push(`is a /${cidr.prefix}, wider than the /${max} a block may cover without force (${variable})`);
  const own = OWN_NETWORKS.filter(([net]) => overlaps(net, cidr)).map(([net, kind]) => `${kind} addresses (${formatCidr(net)})`);
  if (own.length) reasons.push(`holds ${own.join(', ')}: your own hosts, proxies or health checks may be among them`);
  return reasons.length ? `${target} ${reasons.join('; it ')}` : null;
}

/** The widest allowlist entries taken without force: an office or a cloud provider's /8 is fine, a quarter of the internet is not. */
export const ALLOW_MAX_PREFIX = { v4: 8, v6: 16 } as const;

/** An allowlist entry wider than ALLOW_MAX_PREFIX, unforced: it would switch blocking and limits off for that much of the internet. */
export class AllowTooWideError extends IpwatchError {
  override readonly name = 'AllowTooWideError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_ALLOW_TOO_WIDE', message, options);
  }
}

/**
 * Throws AllowTooWideError when allowlisting `target` (canonical) would exempt a range wider
 * than ALLOW_MAX_PREFIX from every block and limit, and `force` is not true. Private and
 * loopback ranges are fine here (allowing your own networks is what the allowlist is for).
 *
 * @example
 * checkAllowSweep('10.0.0.0/8', false);  // fine
 * checkAllowSweep('0.0.0.0/0', false);   // throws: it would switch off every block
 */
export function checkAllowSweep(target: string, force: boolean): void {
  if (force || !target.includes('/')) return;
  const cidr = parseCidr(target);
  const max = cidr.version === 4 ? ALLOW_MAX_PREFIX.v4 : ALLOW_MAX_PREFIX.v6;
  if (cidr.prefix >= max) return;
  throw new AllowTooWideError(
    `refused: allowlisting ${target} (a /${cidr.prefix}, wider than /${max}) would exempt it from every block and rate limit. Allow a narrower range, or repeat with --force (api: "force": true) if you mean it`,
  );
}

/**
 * Throws BlockTooWideError when `target` sweeps (see blockSweep) and `force` is not true,
 * saying how to block anyway. `how` is what the person types to force, e.g. "--force".
 */
export function checkBlockSweep(target: string, scope: Readonly<BlockScope>, force: boolean, how = '--force (api: "force": true)'): void {
  const sweep = force ? null : blockSweep(target, scope);
  if (sweep) throw new BlockTooWideError(`refused: ${sweep}. Block a narrower range, or repeat with ${how} if you mean it`);
}

/** Whether year-month-day is a day the calendar has (Date.parse rolls 2026-02-30 over into March). */
export function isRealDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Longest expiry accepted: ten years. Longer is "never" (omit --expires). */
const MAX_EXPIRY_MS = 10 * 365 * 86_400_000;

/**
 * An expiry as people write it: relative ("+7d", "+12h", "+30m", "+90s", "+2w") or an
 * ISO-8601 time with a zone ("2026-12-01T00:00:00Z"). "never" (or nothing) means null.
 * A time in the past, or more than ten years away, is refused.
 *
 * @returns ms since epoch, or null for never
 */
export function parseExpiry(input: string | undefined | null, now = Date.now()): number | null {
  if (input === undefined || input === null) return null;
  const text = String(input).trim();
  if (text === '' || text === 'never') return null;
  let at: number;
  const rel = /^\+(\d{1,6})([smhdw])$/.exec(text);
  if (rel) {
    at = now + Number(rel[1]) * UNIT_MS[rel[2]!]!;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    at = Date.parse(text);
    const [y, mo, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
    if (Number.isNaN(at) || !isRealDate(y, mo, d)) {
      throw new DecisionInputError(`expiry ${JSON.stringify(text)} is not a real date and time`);
    }
  } else {
    throw new DecisionInputError(
      `expiry ${JSON.stringify(text.slice(0, 40))} is not understood: write +90s, +30m, +12h, +7d, +2w, an ISO-8601 time with a zone such as 2026-12-01T00:00:00Z, or never`,
    );
  }
  if (rel && Number(rel[1]) === 0) throw new DecisionInputError(`expiry ${text} is now: give a positive duration, e.g. +1h`);
  if (at <= now) throw new DecisionInputError(`expiry ${text} (${new Date(at).toISOString()}) is in the past: give a future time, or +12h, +7d`);
  if (at - now > MAX_EXPIRY_MS) throw new DecisionInputError(`expiry ${text} is more than ten years away: omit the expiry for a block that never ends`);
  return at;
}

/** "6d 23h", "59m 58s", "12s": how long until `at`, for listings. */
export function formatTimeLeft(at: number | null, now = Date.now()): string {
  if (at === null) return 'never';
  let s = Math.max(0, Math.ceil((at - now) / 1000));
  if (s === 0) return 'expired';
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = d ? [`${d}d`, `${h}h`] : h ? [`${h}h`, `${m}m`] : m ? [`${m}m`, `${s}s`] : [`${s}s`];
  return parts.join(' ');
}

/** A reason or a name given by a person: bounded, one line, printable. */
export function cleanText(field: string, input: unknown, max: number): string {
  if (input === undefined || input === null) return '';
  if (typeof input !== 'string') throw new DecisionInputError(`${field} must be text`);
  if (input.length > max) throw new DecisionInputError(`${field} is longer than ${max} characters: shorten it`);
  // eslint-disable-next-line no-control-regex
  return input.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();
}
