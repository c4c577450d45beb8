/**
 * The client a request is scored as, in one place: the scorer counts by it, and the enricher
 * keys the enriched topic by it, so every request of one client lands on one partition and one
 * scorer instance owns the client (an IPv6 client rotating addresses inside its /64 is still
 * counted whole however many instances share the work).
 */
import { formatCidr, mask, parseIp } from './ip.ts';
import type { IpAnonymisation } from './schemas.ts';

/**
 * An IPv4 address is its own client; an IPv6 one is its network of `v6Prefix` bits
 * (IPWATCH_SCORER_V6_PREFIX, 64 by default), written as a CIDR. A hash pseudonym
 * (ipAnonymisation 'hash') is a client of its own: it is no address, and its bits mean nothing.
 * `ip` is expected in canonical form (canonicalIp); anything else is returned unchanged.
 *
 * @example
 * scoringClient('2001:db8:1:2:aaaa::1', 'off', 64); // => '2001:db8:1:2::/64'
 * scoringClient('203.0.113.9', 'off', 64);         // => '203.0.113.9'
 */
export function scoringClient(ip: string, ipAnonymisation: IpAnonymisation | null | undefined, v6Prefix: number): string {
  if (!ip.includes(':') || ipAnonymisation === 'hash' || v6Prefix >= 128) return ip;
  const parsed = parseIp(ip);
  if (parsed === null || parsed.version !== 6) return ip;
  return formatCidr({ version: 6, network: parsed.value & mask(6, v6Prefix), prefix: v6Prefix });
}

/**
 * scoringClient for one prefix, remembering the networks of the IPv6 addresses it has seen
 * (a parse per address, not per event; at most `maxCached`, then it starts afresh). IPv4
 * addresses and hash pseudonyms are returned as they are, never cached: a pseudonym's text
 * may equal an address's.
 *
 * @example
 * const clientOf = cachedScoringClient(64);
 * clientOf('2001:db8:1:2:aaaa::1', 'off'); // => '2001:db8:1:2::/64'
 */
export function cachedScoringClient(v6Prefix: number, maxCached = 100_000): (ip: string, ipAnonymisation: IpAnonymisation | null | undefined) => string {
  const networks = new Map<string, string>();
  return (ip, ipAnonymisation) => {
    if (!ip.includes(':') || ipAnonymisation === 'hash' || v6Prefix >= 128) return ip;
    let client = networks.get(ip);
    if (client === undefined) {
      client = scoringClient(ip, ipAnonymisation, v6Prefix);
      if (networks.size >= maxCached) networks.clear();
      networks.set(ip, client);
    }
    return client;
  };
}
