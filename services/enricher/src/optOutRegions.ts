/**
 * Countries and regions whose visitors opted out (IPWATCH_OPT_OUT_REGIONS): decided here, in
 * the enricher, because this is where a request's country is first known. A visitor from one
 * has its event withheld (withholdPersonal) and its place cut to country and region.
 */
import { ConfigError } from '@ipwatch/core/config';
import type { Geo } from '@ipwatch/core/schemas';

export interface OptOutRegions {
  /** True when the place is an opted-out country, or an opted-out region of its country. */
  covers(geo: Geo): boolean;
}

const ENTRY = /^[A-Za-z]{2}(\/[^/\x00-\x1f]{1,100})?$/;

/**
 * Compiles the list once: "DE" (a country code, any case) or "US/California" (a country code
 * and a region as the geolocation names it; the region is matched without regard to case).
 * null for an empty list, so the enricher's hot path asks nothing. A malformed entry throws.
 *
 * @example
 * const regions = compileOptOutRegions(['DE', 'US/California']);
 * regions?.covers({ ...geo, country: 'US', region: 'California' }); // => true
 */
export function compileOptOutRegions(entries: readonly string[] | undefined): OptOutRegions | null {
  if (entries === undefined || entries.length === 0) return null;
  const countries = new Set<string>();
  const regions = new Set<string>();
  for (const entry of entries) {
    if (typeof entry !== 'string' || !ENTRY.test(entry)) {
      throw new ConfigError([`opt-out regions: ${JSON.stringify(entry)} is neither a two-letter country code (DE) nor a country and a region (US/California)`]);
    }
    if (entry.length === 2) countries.add(entry.toUpperCase());
    else regions.add(placeKey(entry.slice(0, 2), entry.slice(3)));
  }
  return {
    covers(geo) {
      if (geo.country === '') return false;
      const country = geo.country.toUpperCase();
      if (countries.has(country)) return true;
      return regions.size > 0 && geo.region !== '' && regions.has(placeKey(country, geo.region));
    },
  };
}

function placeKey(country: string, region: string): string {
  return `${country.toUpperCase()}/${region.toLowerCase()}`;
}

/**
 * The place kept of an opted-out visitor: its country and region (what the opt-out was
 * decided on), and its network's ASN and organisation (they describe the network, not the
 * person); no city, no coordinates.
 *
 * @example
 * withholdPlace({ country: 'DE', region: 'Berlin', city: 'Berlin', latitude: 52.5, longitude: 13.4, asn: 3320, org: 'DTAG', source: 'offline' });
 * // => { country: 'DE', region: 'Berlin', city: '', latitude: null, longitude: null, asn: 3320, org: 'DTAG', source: 'offline' }
 */
export function withholdPlace(geo: Geo): Geo {
  return { ...geo, city: '', latitude: null, longitude: null };
}
