/**
 * Online geolocation providers (ipinfo-style and ip-api-style JSON over HTTP), tried in
 * order after the offline data when it has no city. Off unless providers are configured.
 * Each provider call has a timeout and a response-size bound; a provider that times out,
 * errors or answers junk is skipped and counted. Answers are cached for 24 h, failures for
 * less, in a bounded cache of their own. Only public addresses ever leave the process.
 */
import { LRUCache } from 'lru-cache';
import { classifyIp, type ParsedIp } from '@ipwatch/core/ip';
import type { Geo } from '@ipwatch/core/schemas';
import { IpwatchError } from '@ipwatch/core/errors';

export type ProviderFormat = 'ipinfo' | 'ipapi' | 'auto';

export interface OnlineProvider {
  /** Becomes the `source` of the answers it gives. */
  name: string;
  /** http(s) URL with `{ip}` where the URL-encoded address goes, e.g. `https://ipinfo.io/{ip}/json`. */
  urlTemplate: string;
  /** Response shape; 'auto' tells them apart per response. Strings infer it from the name. */
  format?: ProviderFormat;
  /** Extra request headers, e.g. `{ authorization: 'Bearer <token>' }`. */
  headers?: Record<string, string>;
}

export type ResolvedProvider = Readonly<Required<OnlineProvider>>;

export class GeoConfigError extends IpwatchError {
  override readonly name = 'GeoConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_GEO_PROVIDER_INVALID', message, options);
  }
}

/** Sources the lookup itself uses; a provider may not pose as one of them. */
const RESERVED_NAMES = new Set(['offline', 'none', 'invalid', 'public', 'private', 'loopback', 'link-local', 'unspecified', 'multicast', 'cgnat', 'documentation', 'reserved']);

function inferFormat(name: string): ProviderFormat {
  if (/^ipinfo/i.test(name)) return 'ipinfo';
  if (/^ip-?api/i.test(name)) return 'ipapi';
  return 'auto';
}

/**
 * Validates one provider: a `name=urlTemplate` string (as in IPWATCH_GEO_ONLINE_PROVIDERS)
 * or an object. Throws GeoConfigError saying what is wrong.
 *
 * @example parseProvider('ipapi=http://127.0.0.1:8080/json/{ip}')
 */
export function parseProvider(spec: string | OnlineProvider): ResolvedProvider {
  let p: OnlineProvider;
  if (typeof spec === 'string') {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new GeoConfigError(`online geo provider ${JSON.stringify(spec)} must be name=urlTemplate, e.g. ipapi=http://host/json/{ip}`);
    const name = spec.slice(0, eq).trim();
    p = { name, urlTemplate: spec.slice(eq + 1).trim(), format: inferFormat(name) };
  } else {
    p = spec;
  }
  const label = JSON.stringify(p.name);
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(p.name)) {
    throw new GeoConfigError(`online geo provider name ${label} must be 1-32 letters, digits, '.', '_' or '-', starting with a letter`);
  }
  if (RESERVED_NAMES.has(p.name.toLowerCase())) throw new GeoConfigError(`online geo provider name ${label} is reserved for the lookup's own sources: pick another`);
  if (!p.urlTemplate.includes('{ip}')) throw new GeoConfigError(`online geo provider ${label}: the URL template must contain {ip}`);
  let url: URL;
  try {
    url = new URL(p.urlTemplate.replaceAll('{ip}', '192.0.2.1'));
  } catch {
    throw new GeoConfigError(`online geo provider ${label}: ${JSON.stringify(p.urlTemplate)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GeoConfigError(`online geo provider ${label}: only http:// and https:// URLs are accepted`);
  const format = p.format ?? 'auto';
  if (format !== 'ipinfo' && format !== 'ipapi' && format !== 'auto') throw new GeoConfigError(`online geo provider ${label}: format must be ipinfo, ipapi or auto`);
  return Object.freeze({ name: p.name, urlTemplate: p.urlTemplate, format, headers: Object.freeze({ ...p.headers }) });
}

/** A provider's answer without its source; null when the body is not a usable answer. */
type Located = Omit<Geo, 'source'>;

const MAX_TEXT = 128;
const text = (v: unknown): string => (typeof v === 'string' ? v.trim().slice(0, MAX_TEXT) : '');
const num = (v: unknown, limit: number): number | null => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && Math.abs(n) <= limit ? n : null;
};
/** "AS15169 Google LLC" -> 15169 and "Google LLC". */
function splitAs(v: unknown): { asn: number; org: string } {
  const m = /^AS(\d{1,10})(?:\s+(.*))?$/i.exec(text(v));
  if (!m) return { asn: 0, org: '' };
  const asn = Number(m[1]);
  return { asn: asn <= 0xffffffff ? asn : 0, org: (m[2] ?? '').trim() };
}

function mapIpinfo(b: Record<string, unknown>): Located | null {
  if (b.bogon === true) return null;
  const [lat, lon] = text(b.loc).split(',');
  const as = splitAs(b.org);
  return { country: text(b.country).toUpperCase(), region: text(b.region), city: text(b.city), latitude: num(lat, 90), longitude: num(lon, 180), ...as };
}

function mapIpapi(b: Record<string, unknown>): Located | null {
  if (b.status !== undefined && b.status !== 'success') return null;
  const as = splitAs(b.as);
  return {
    country: text(b.countryCode).toUpperCase(),
    region: text(b.regionName),
    city: text(b.city),
    latitude: num(b.lat, 90),
    longitude: num(b.lon, 180),
    asn: as.asn,
    org: as.org || text(b.org) || text(b.isp),
  };
}

function mapBody(format: ProviderFormat, body: unknown): Located | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const f = format === 'auto' ? ('countryCode' in b || 'lat' in b ? 'ipapi' : 'ipinfo') : format;
  const located = f === 'ipinfo' ? mapIpinfo(b) : mapIpapi(b);
  // Without a valid country the answer says nothing we can trust.
  if (!located || !/^[A-Z]{2}$/.test(located.country)) return null;
  if (located.latitude === null || located.longitude === null) located.latitude = located.longitude = null;
  return located;
}

type Outcome = { kind: 'ok'; located: Located } | { kind: 'timeout' | 'error' | 'junk'; detail: string };

async function readBounded(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return '';
  if (Number(res.headers.get('content-length') ?? '0') > maxBytes) {
    await res.body.cancel();
    return null;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) return null; // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

async function ask(p: ResolvedProvider, ip: string, signal: AbortSignal, maxBytes: number): Promise<Outcome> {
  const url = p.urlTemplate.replaceAll('{ip}', encodeURIComponent(ip));
  try {
    const res = await fetch(url, { signal, headers: { accept: 'application/json', ...p.headers } });
    if (!res.ok) {
      await res.body?.cancel();
      return { kind: 'error', detail: `HTTP ${res.status}` };
    }
    const body = await readBounded(res, maxBytes);
    if (body === null) return { kind: 'junk', detail: `response larger than ${maxBytes} bytes` };
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return { kind: 'junk', detail: 'response is not JSON' };
    }
    const located = mapBody(p.format, json);
    return located ? { kind: 'ok', located } : { kind: 'junk', detail: 'response has no usable country' };
  } catch (err) {
    const name = (err as Error | undefined)?.name;
    if (name === 'TimeoutError') return { kind: 'timeout', detail: 'timed out' };
    return { kind: 'error', detail: name === 'AbortError' ? 'aborted' : String((err as Error).cause ?? err) };
  }
}

export interface ProviderStats {
  calls: number;
  ok: number;
  timeouts: number;
  errors: number;
  junk: number;
  /** The last failure, for a health page: what went wrong and when (epoch ms). */
  lastFailure: { kind: string; detail: string; at: number } | null;
}

export interface OnlineStats {
  /** Lookups that reached the chain (offline had no city). */
  requests: number;
  cacheHits: number;
  /** Provider calls made, and those that failed (timeout, error or junk). */
  calls: number;
  failures: number;
  /** Lookups answered offline because every provider failed. */
  unanswered: number;
  /** Lookups answered offline because maxInFlight distinct addresses were already being asked. */
  skipped: number;
  cacheEntries: number;
  providers: Record<string, ProviderStats>;
}

export interface OnlineChainOptions {
  providers: ResolvedProvider[];
  timeoutMs: number;
  ttlMs: number;
  failureTtlMs: number;
  cacheSize: number;
  maxInFlight: number;
  maxResponseBytes: number;
  now: () => number;
}

export interface OnlineChain {
  /** The best answer for a public address whose offline answer lacks a city; never rejects. */
  lookup(ip: ParsedIp, canonical: string, offline: Geo): Promise<Geo>;
  stats(): OnlineStats;
  /** Drops the cached answers whose address `concerns` says (a privacy erasure); returns how many. */
  forget(concerns: (canonical: string) => boolean): number;
  /** The cached addresses `concerns` says. */
  find(concerns: (canonical: string) => boolean): string[];
  close(): void;
}

export function createOnlineChain(o: OnlineChainOptions): OnlineChain {
  const cache = new LRUCache<string, { geo: Geo; expiresAt: number }>({ max: Math.max(1, o.cacheSize) });
  const inFlight = new Map<string, Promise<Geo>>();
  const closing = new AbortController();
  const counters = { requests: 0, cacheHits: 0, calls: 0, failures: 0, unanswered: 0, skipped: 0 };
  const perProvider: Record<string, ProviderStats> = {};
  for (const p of o.providers) perProvider[p.name] = { calls: 0, ok: 0, timeouts: 0, errors: 0, junk: 0, lastFailure: null };

  const run = async (canonical: string, offline: Geo): Promise<Geo> => {
    for (const p of o.providers) {
      if (closing.signal.aborted) return offline;
      const s = perProvider[p.name]!;
      s.calls++;
      counters.calls++;
      const outcome = await ask(p, canonical, AbortSignal.any([AbortSignal.timeout(o.timeoutMs), closing.signal]), o.maxResponseBytes);
      if (outcome.kind === 'ok') {
        s.ok++;
        const l = outcome.located;
        // Location fields come from one source only; the AS may be filled in from the offline data.
        const geo: Geo = Object.freeze({ ...l, asn: l.asn || offline.asn, org: l.asn ? l.org : offline.org, source: p.name });
        if (!closing.signal.aborted) cache.set(canonical, { geo, expiresAt: o.now() + o.ttlMs });
        return geo;
      }
      counters.failures++;
      if (outcome.kind === 'timeout') s.timeouts++;
      else if (outcome.kind === 'error') s.errors++;
      else s.junk++;
      s.lastFailure = { kind: outcome.kind, detail: outcome.detail, at: o.now() };
    }
    counters.unanswered++;
    // Remember the failure for a shorter while, so a dead provider is not asked per event.
    if (!closing.signal.aborted) cache.set(canonical, { geo: offline, expiresAt: o.now() + o.failureTtlMs });
    return offline;
  };

  return {
    lookup(ip, canonical, offline) {
      // Privacy: whatever the caller checked, nothing but a public address is sent out.
      if (o.providers.length === 0 || closing.signal.aborted || classifyIp(ip) !== 'public') return Promise.resolve(offline);
      counters.requests++;
      const cached = cache.get(canonical);
      if (cached !== undefined) {
        if (cached.expiresAt > o.now()) {
          counters.cacheHits++;
          return Promise.resolve(cached.geo);
        }
        cache.delete(canonical);
      }
      const pending = inFlight.get(canonical);
      if (pending) return pending;
      if (inFlight.size >= o.maxInFlight) {
        counters.skipped++;
        return Promise.resolve(offline);
      }
      const promise = run(canonical, offline).finally(() => inFlight.delete(canonical));
      inFlight.set(canonical, promise);
      return promise;
    },
    stats() {
      const providers: Record<string, ProviderStats> = {};
      for (const [k, v] of Object.entries(perProvider)) providers[k] = { ...v };
      return { ...counters, cacheEntries: cache.size, providers };
    },
    forget(concerns) {
      const gone = [...cache.keys()].filter(concerns);
      for (const k of gone) cache.delete(k);
      return gone.length;
    },
    find(concerns) {
      return [...cache.keys()].filter(concerns);
    },
    close() {
      closing.abort();
      cache.clear();
    },
  };
}
