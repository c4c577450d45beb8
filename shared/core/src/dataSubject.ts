/**
 * Whom a privacy request is about (a data subject): one address, a range of addresses, or a
 * user id. Parsed once (refused with a message when malformed or, unforced, wider than the
 * configured maximum), then turned into each table's condition by the store's catalog
 * (shared/store/src/privacy/catalog.ts) and matched by whatever else holds data about people
 * (PersonalStateHolder: Redis keys, caches), which a process registers here.
 */
import { IpwatchError } from './errors.ts';
import { cidrContains, formatCidr, formatIp, mask, parseCidr, parseIp, type IpVersion } from './ip.ts';
import { refusePort } from './blockTarget.ts';

export type SubjectKind = 'ip' | 'cidr' | 'user';

export interface AddressSubject {
  kind: 'ip' | 'cidr';
  /** Canonical: 203.0.113.7, 203.0.113.0/24, 2001:db8::/48. */
  text: string;
  version: IpVersion;
  /** Prefix length in the address's own family (32 for one IPv4 address). */
  prefix: number;
  /** The inclusive range of ClickHouse's ip column (IPv6, IPv4 mapped as ::ffff:a.b.c.d). */
  from: string;
  to: string;
}

export interface UserSubject {
  kind: 'user';
  /** The user id (or username) exactly as the app reported it. */
  text: string;
}

export type PrivacySubject = AddressSubject | UserSubject;

/** What a caller gives: an address or CIDR, or a user id (exactly one). */
export interface SubjectInput {
  ip?: string;
  user?: string;
}

/** The widest range taken without force (IPWATCH_ERASE_MAX_PREFIX_V4/_V6). */
export interface SubjectScope {
  maxPrefixV4: number;
  maxPrefixV6: number;
}

export const DEFAULT_SUBJECT_SCOPE: SubjectScope = { maxPrefixV4: 24, maxPrefixV6: 48 };

/** A range wider than the scope, unforced: most likely a typo (/8 for /28). */
export class EraseTooWideError extends IpwatchError {
  override readonly name = 'EraseTooWideError';
  constructor(message: string) {
    super('IPWATCH_ERASE_TOO_WIDE', message);
  }
}

/** Longest user id taken: the emitter bounds what it reports to less. */
export const MAX_USER_LENGTH = 512;

/**
 * @example
 * parseSubject({ ip: '203.0.113.7' });                // { kind: 'ip', text: '203.0.113.7', from: '::ffff:203.0.113.7', ... }
 * parseSubject({ ip: '10.0.0.0/8' });                 // throws EraseTooWideError (wider than /24)
 * parseSubject({ ip: '10.0.0.0/8' }, scope, true);    // taken
 * parseSubject({ user: 'alice@example.com' });        // { kind: 'user', text: 'alice@example.com' }
 */
export function parseSubject(input: SubjectInput, scope: SubjectScope = DEFAULT_SUBJECT_SCOPE, force = false): PrivacySubject {
  const given = [input.ip, input.user].filter((v) => v !== undefined);
  if (given.length !== 1) {
    throw new IpwatchError('IPWATCH_USAGE', 'say whom it is about: an address or a range (203.0.113.7, 203.0.113.0/24), or --user <id> (api: "ip" or "user"), exactly one');
  }
  if (input.user !== undefined) {
    const user = input.user;
    if (user.trim() === '' || user.length > MAX_USER_LENGTH || /[\u0000-\u001f\u007f]/.test(user)) {
      throw new IpwatchError('IPWATCH_USAGE', `--user must be the user id as the app reports it: 1 to ${MAX_USER_LENGTH} characters, no control characters`);
    }
    return { kind: 'user', text: user };
  }
  const raw = String(input.ip).trim();
  refusePort(raw);
  const cidr = parseCidr(raw);
  const bits = cidr.version === 4 ? 32 : 128;
  const [max, variable] = cidr.version === 4 ? [scope.maxPrefixV4, 'IPWATCH_ERASE_MAX_PREFIX_V4'] : [scope.maxPrefixV6, 'IPWATCH_ERASE_MAX_PREFIX_V6'];
  if (cidr.prefix < max && !force) {
    throw new EraseTooWideError(
      `${formatCidr(cidr)} is a /${cidr.prefix}, wider than the /${max} a privacy request covers without force (${variable}): ` +
        `check the range (a typo of /8 for /28 reaches millions of people); if you mean it, repeat with --force (api: "force": true)`,
    );
  }
  const hostMask = ~mask(cidr.version, cidr.prefix) & ((1n << BigInt(bits)) - 1n);
  const column = (value: bigint) => {
    const text = formatIp({ version: cidr.version, value });
    return cidr.version === 4 ? `::ffff:${text}` : text;
  };
  return {
    kind: cidr.prefix === bits ? 'ip' : 'cidr',
    text: cidr.prefix === bits ? formatIp({ version: cidr.version, value: cidr.network }) : formatCidr(cidr),
    version: cidr.version,
    prefix: cidr.prefix,
    from: column(cidr.network),
    to: column(cidr.network | hostMask),
  };
}

/** The prefix length the audit log keeps of a subject (0 for a user): what was asked, not whom. */
export function subjectBits(subject: PrivacySubject): number {
  return subject.kind === 'user' ? 0 : subject.prefix;
}

/** The text an erasure journal keys a subject by ("ip:203.0.113.7", "user:alice"). */
export function subjectKey(subject: PrivacySubject): string {
  return `${subject.kind === 'user' ? 'user' : 'ip'}:${subject.text}`;
}

/**
 * Whether an address, or a network written a.b.c.d/n (a rate-limit key of an IPv6 /64), is the
 * subject or inside its range; a network also when it holds the subject's one address.
 *
 * @example
 * subjectCovers(parseSubject({ ip: '2001:db8:1:2::7' }), '2001:db8:1:2::/64'); // true
 * subjectCovers(parseSubject({ ip: '203.0.113.0/24' }), '203.0.113.9');         // true
 */
export function subjectCovers(subject: PrivacySubject, text: string): boolean {
  if (subject.kind === 'user') return false;
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (ip === null || ip.version !== subject.version) return false;
  const own = parseCidr(subject.text);
  if (cidrContains(own, ip)) return true;
  if (slash === -1 || subject.kind !== 'ip') return false;
  const bits = Number(text.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > (ip.version === 4 ? 32 : 128)) return false;
  return cidrContains({ version: ip.version, network: ip.value & mask(ip.version, bits), prefix: bits }, { version: own.version, value: own.network });
}

/** One thing a holder keeps about a subject, as an export shows it. */
export interface HeldItem {
  /** What it is: "rate-limit counter", "alert sent". */
  kind: string;
  /** Which one: the key, or what it names. */
  name: string;
  /** Until when it lives if left alone (epoch ms), when known. */
  expiresAt: number | null;
  /** More, for the reader. */
  detail: string;
}

/**
 * Data about people held outside ClickHouse: rate-limit counters and alert bookkeeping in
 * Redis, a process's geolocation cache. Export asks each what it holds; erasure makes it forget.
 */
export interface PersonalStateHolder {
  /** Where this is kept: "Redis (rate limits)", "geolocation cache (this process)". */
  readonly place: string;
  /** What it keeps about the subject. `detectionIds`: the subject's detections, for holders keyed by them. */
  find(subject: PrivacySubject, related: { detectionIds: string[] }): Promise<HeldItem[]>;
  /** Forgets it; returns how many entries went. Idempotent. */
  forget(subject: PrivacySubject, related: { detectionIds: string[] }): Promise<number>;
}

/** Something an erasure cannot remove now, and when it goes by itself. */
export interface Remaining {
  place: string;
  what: string;
  /** Epoch ms when it is gone by itself, or null when it stays until someone acts. */
  until: number | null;
  /** What the operator can do about it. */
  action?: string;
  /** A list entry in force (a block, an allowlist entry): which list and target, for a button that lifts it. */
  entry?: { list: 'blocks' | 'allow'; target: string };
}

const registered = new Set<PersonalStateHolder>();

/**
 * Registers what this process holds about people (a geolocation cache), so an erasure run by
 * the api of the same process (the embedded `ipwatch dev`) clears it. Returns the unregister.
 */
export function registerPersonalState(holder: PersonalStateHolder): () => void {
  registered.add(holder);
  return () => registered.delete(holder);
}

/** The holders registered in this process. */
export function registeredPersonalState(): PersonalStateHolder[] {
  return [...registered];
}
