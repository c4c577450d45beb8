/**
 * Client IP anonymisation before an event leaves the app: off, truncate (zero the host bits)
 * or hash (a keyed HMAC rendered as an address). The result is always an IP address, so the
 * event still fits ClickHouse's IPv6 column and the per-IP partitioning of the topics.
 */
import { createHmac } from 'node:crypto';
import type { IpAnonymisation } from '@ipwatch/core/schemas';
import { formatIp, mask, parseIp, type ParsedIp } from '@ipwatch/core/ip';
import { BoundedMap } from './boundedMap.ts';
import { EmitterOptionError } from './errors.ts';
import { oneOf, trueOrFalse, wholeNumber } from './optionChecks.ts';
import { UNKNOWN_IP } from './clientIp.ts';

export interface IpAnonymiserOptions {
  mode: IpAnonymisation;
  /** HMAC key for `hash` mode, at least 16 bytes. Keep it secret and stable: a new key gives every IP a new pseudonym. */
  key?: string | Buffer;
  /** Bits kept of an IPv4 address in `truncate` mode, and of the network `hash` mode sends. Default 24 (1.2.3.4 -> 1.2.3.0). */
  v4Prefix?: number;
  /** Bits kept of an IPv6 address in `truncate` mode, and of the network `hash` mode sends. Default 48. */
  v6Prefix?: number;
  /**
   * `hash` mode only: send the client's network (its /24, or /48 for IPv6: v4Prefix and
   * v6Prefix) beside the pseudonym, in the event's `network` field, so the enricher can still
   * geolocate the request (a pseudonym has no place on the map); the enricher clears the field,
   * so it is never stored. Default true; false sends no network (and so no geolocation).
   *
   * @example
   * ipwatch({ log, anonymise: { mode: 'hash', key: process.env.IP_HASH_KEY, keepNetwork: false } });
   */
  keepNetwork?: boolean;
  /** Results remembered, per distinct input address. Default 10,000. */
  cacheSize?: number;
}

export interface IpAnonymiser {
  readonly mode: IpAnonymisation;
  /** Anonymises one address (any form parseIp reads). Never throws. */
  anonymise(ip: string): string;
  /**
   * The network (CIDR text) an event sends beside the address: in `hash` mode with
   * keepNetwork (the default), the address's /24 or /48; null otherwise, and for anything
   * that is not an address. Never throws.
   */
  network(ip: string): string | null;
}

/**
 * Where hashed addresses live: 2001:db8::/32, the IPv6 documentation prefix (RFC 3849).
 * Chosen because no real client can ever come from it (it is never routed), so a pseudonym
 * cannot collide with a real address, unlike fd00::/8 where real ULA clients live; core's
 * classifyIp already calls it non-public, so the enricher will not geolocate a pseudonym; and
 * it leaves 96 bits for the hash, so two addresses share a pseudonym with odds of about
 * n^2 / 2^97 (for a billion addresses, about 1 in 10^11).
 *
 * @example
 * // in a query: rows whose IP is a pseudonym rather than a real address
 * cidrContains(parseCidr(HASHED_IP_PREFIX), parseIp(row.ip)!);
 */
export const HASHED_IP_PREFIX = '2001:db8::/32';
const HASH_PREFIX_VALUE = 0x20010db8n << 96n;
/**
 * Shortest accepted HMAC key, in bytes.
 *
 * @example
 * const key = crypto.randomBytes(Math.max(32, MIN_HASH_KEY_BYTES));
 */
export const MIN_HASH_KEY_BYTES = 16;

/**
 * Builds an anonymiser, validating the options once. `hash` without a key of at least 16
 * bytes throws: an unkeyed hash of the 2^32 IPv4 addresses is reversed in seconds.
 *
 * - `off`: the canonical address.
 * - `truncate`: host bits zeroed, 1.2.3.4 -> 1.2.3.0 and 2001:db8:1:2::3 -> 2001:db8:1::.
 * - `hash`: HMAC-SHA256(key, canonical address), first 96 bits placed under 2001:db8::/32
 *   (see HASHED_IP_PREFIX for why). The same address always gives the same pseudonym, so
 *   per-IP detection still works. With keepNetwork (the default) `network()` gives the
 *   address's /24 (or /48), which events carry so the enricher can still geolocate them.
 *
 * Input that is not an address becomes 0.0.0.0 in `truncate` mode and is hashed as text in
 * `hash` mode; `off` returns it unchanged.
 *
 * @example
 * const anon = createIpAnonymiser({ mode: 'truncate' });
 * anon.anonymise('203.0.113.77'); // => '203.0.113.0'
 * const pseudo = createIpAnonymiser({ mode: 'hash', key: process.env.MY_IP_HASH_KEY });
 * pseudo.anonymise('203.0.113.77'); // => e.g. '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901'
 * pseudo.network('203.0.113.77'); // => '203.0.113.0/24'
 */
export function createIpAnonymiser(options: IpAnonymiserOptions): IpAnonymiser {
  const { mode, key, v4Prefix = 24, v6Prefix = 48, cacheSize = 10_000, keepNetwork } = options ?? ({} as IpAnonymiserOptions);
  oneOf('anonymise mode', mode, ['off', 'truncate', 'hash'], { off: 'addresses as they are', truncate: 'host bits zeroed', hash: 'keyed pseudonyms' });
  wholeNumber('v4Prefix', v4Prefix, 0, 32);
  wholeNumber('v6Prefix', v6Prefix, 0, 128);
  wholeNumber('cacheSize', cacheSize, 0, Number.POSITIVE_INFINITY);
  if (keepNetwork !== undefined) {
    trueOrFalse('keepNetwork', keepNetwork);
    if (mode !== 'hash') throw new EmitterOptionError(`keepNetwork is only used in anonymise mode 'hash' (the network beside a pseudonym), not '${mode}': remove it or set mode: 'hash'`);
  }
  const noNetwork = (): null => null;
  if (mode === 'off') {
    return { mode, anonymise: (ip) => (typeof ip === 'string' ? ip : UNKNOWN_IP), network: noNetwork };
  }

  let keyBytes: Buffer | null = null;
  if (mode === 'hash') {
    keyBytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.isBuffer(key) ? Buffer.from(key) : null;
    if (keyBytes === null || keyBytes.length < MIN_HASH_KEY_BYTES) {
      throw new EmitterOptionError(
        `anonymise mode 'hash' needs a secret key of at least ${MIN_HASH_KEY_BYTES} bytes (got ${keyBytes === null ? 'none' : `${keyBytes.length}`}); ` +
          "generate one with `node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\"` and keep it stable",
      );
    }
  } else if (key !== undefined) {
    throw new EmitterOptionError(`a key is only used in anonymise mode 'hash', not '${mode}': remove it or set mode: 'hash'`);
  }
  const hashKey = keyBytes;
  const mask4 = mask(4, v4Prefix);
  const mask6 = mask(6, v6Prefix);

  const truncated = (parsed: ParsedIp): string => formatIp({ version: parsed.version, value: parsed.value & (parsed.version === 4 ? mask4 : mask6) });
  const compute = (ip: string): string => {
    const parsed = parseIp(ip);
    if (hashKey === null) return parsed === null ? UNKNOWN_IP : truncated(parsed);
    const canonical = parsed === null ? ip : formatIp(parsed);
    const digest = createHmac('sha256', hashKey).update(canonical).digest();
    const low96 = (digest.readBigUInt64BE(0) << 32n) | BigInt(digest.readUInt32BE(8));
    return formatIp({ version: 6, value: HASH_PREFIX_VALUE | low96 });
  };

  // An HMAC and BigInt formatting cost microseconds; the same clients come back again and again.
  const cache = new BoundedMap<string, string>(cacheSize);
  const networks = new BoundedMap<string, string | null>(hashKey !== null && keepNetwork !== false ? cacheSize : 0);
  const networkOf = (ip: string): string | null => {
    const parsed = parseIp(ip);
    return parsed === null ? null : `${truncated(parsed)}/${parsed.version === 4 ? v4Prefix : v6Prefix}`;
  };
  return {
    mode,
    anonymise(ip) {
      if (typeof ip !== 'string') return UNKNOWN_IP;
      let out = cache.get(ip);
      if (out === undefined) {
        out = compute(ip);
        cache.set(ip, out);
      }
      return out;
    },
    network:
      hashKey === null || keepNetwork === false
        ? noNetwork
        : (ip) => {
            if (typeof ip !== 'string') return null;
            let out = networks.get(ip);
            if (out === undefined) {
              out = networkOf(ip);
              networks.set(ip, out);
            }
            return out;
          },
  };
}
