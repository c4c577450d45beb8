/**
 * Search-engine crawlers, verified the way their operators document it. A user agent only
 * makes a claim; the claim holds when the client's address has a reverse DNS (PTR) name
 * under the crawler's documented domain AND a forward lookup (A for IPv4, AAAA for IPv6) of
 * that name gives the same address back. The forward step is what makes it proof: anyone
 * can put any PTR name on their own addresses, only the domain's owner can make
 * crawl-1-2-3-4.googlebot.com resolve to them.
 *
 * Verification costs DNS round trips, so the scorer asks only about a client that a volume
 * rule is about to act on, and every verdict is cached (a day when verified, an hour when
 * refused, five minutes when DNS failed). A DNS failure is "not verified", never a throw.
 *
 * @example
 * const verifier = createCrawlerVerifier();
 * const claimed = claimedCrawler(event.userAgent);
 * if (claimed) {
 *   const verdict = await verifier.verify(event.ip, claimed);
 *   // { verified: true, crawler: 'Googlebot', hostname: 'crawl-66-249-66-1.googlebot.com',
 *   //   reason: 'reverse DNS 66.249.66.1 -> crawl-66-249-66-1.googlebot.com, forward lookup returns the same address' }
 * }
 */
import { Resolver } from 'node:dns/promises';
import { canonicalIp, parseIp } from '@ipwatch/core/ip';
import { IpwatchError } from '@ipwatch/core/errors';

export interface KnownCrawler {
  readonly name: string;
  /** Matched against a bounded prefix of the user agent; linear-time (no nested or unbounded-overlap quantifiers). */
  readonly userAgent: RegExp;
  /** A PTR name must be one of these or end in "." + one of them. */
  readonly domains: readonly string[];
}

/**
 * The crawlers whose operators document reverse-then-forward DNS verification, with the
 * domains their pages give (read 2026-11):
 *
 * - Google: https://developers.google.com/crawling/docs/crawlers-fetchers/verifying-googlebot
 *   (formerly https://developers.google.com/search/docs/crawling-indexing/verifying-googlebot).
 *   Common crawlers are crawl-*.googlebot.com / geo-crawl-*.geo.googlebot.com, special-case
 *   crawlers (AdsBot...) rate-limited-proxy-*.google.com. googleusercontent.com is left out
 *   on purpose although the page lists it: it names user-triggered fetchers, which act for a
 *   user and are not search crawlers, and every Google Cloud VM gets a forward-confirmed
 *   *.bc.googleusercontent.com name, so accepting it would let anyone with a VM pass as
 *   Googlebot. Even gae.googleusercontent.com is, per that page, fetches that sites on Google
 *   Cloud make at their users' request.
 * - Bing: https://www.bing.com/webmasters/help/how-to-verify-bingbot-3905dc26
 *   ("a name that ends with search.msn.com"), msnbot-157-55-33-18.search.msn.com.
 * - Apple: https://support.apple.com/en-us/119829 (was HT204683): *.applebot.apple.com,
 *   e.g. 17-58-101-179.applebot.apple.com.
 * - Yandex: https://yandex.com/support/webmaster/robot-workings/check-yandex-robots.html
 *   ("All Yandex robot names end in yandex.ru, yandex.net or yandex.com").
 * - Baidu: the Baiduspider help its user agent links to, https://www.baidu.com/search/spider.html
 *   (FAQ "How can I know the crawling is from Baiduspider": "The hostname of Baiduspider is
 *   *.baidu.com or *.baidu.jp"), e.g. baiduspider-123-125-66-120.crawl.baidu.com.
 * - Huawei Petal Search: https://aspiegel.com/petalbot (section 5, "How to Judge PetalBot
 *   Crawling", reverse then forward DNS). The copy read here stops before the name pattern;
 *   petalsearch.com is the domain crawler listings record (petalbot-114-119-1-2.petalsearch.com).
 *
 * DuckDuckBot is not here: DuckDuckGo documents a list of IP addresses
 * (https://duckduckgo.com/duckduckgo-help-pages/results/duckduckbot), not reverse DNS, so
 * there is no name to check. Checking it would need that list kept up to date.
 */
export const KNOWN_CRAWLERS: readonly KnownCrawler[] = Object.freeze([
  {
    name: 'Googlebot',
    // Google's common and special-case crawlers; every token is a literal, so matching is linear.
    userAgent: /\b(?:Googlebot|Storebot-Google|Google-InspectionTool|GoogleOther|AdsBot-Google|Mediapartners-Google|APIs-Google|Google-Safety|Google-CloudVertexBot)\b/i,
    domains: ['googlebot.com', 'google.com'],
  },
  {
    name: 'Bingbot',
    userAgent: /\b(?:bingbot|msnbot|adidxbot|BingPreview|MicrosoftPreview)\b/i,
    domains: ['search.msn.com'],
  },
  {
    name: 'Applebot',
    userAgent: /\bApplebot\b/i,
    domains: ['applebot.apple.com'],
  },
  {
    name: 'YandexBot',
    // Every Yandex robot's user agent carries "+http://yandex.com/bots"; the bounded {0,30} keeps backtracking constant.
    userAgent: /\bYandex[A-Za-z]{0,30}Bot\b|\byandex\.com\/bots\b/i,
    domains: ['yandex.ru', 'yandex.net', 'yandex.com'],
  },
  {
    name: 'Baiduspider',
    userAgent: /\bBaiduspider\b/i,
    domains: ['baidu.com', 'baidu.jp'],
  },
  {
    name: 'PetalBot',
    userAgent: /\bPetalBot\b/i,
    domains: ['petalsearch.com'],
  },
].map((c) => Object.freeze({ ...c, domains: Object.freeze(c.domains) })));

/**
 * How much of a user agent is read: real crawler agents are under 300 characters, and a
 * hostile one may be megabytes; the claim has to be near the start to count.
 */
export const USER_AGENT_PREFIX = 512;

/**
 * The known crawler a user agent claims to be, or null. Cheap (a few literal-token regexes
 * over at most USER_AGENT_PREFIX characters), and only a claim: verify it before trusting it.
 *
 * @example
 * claimedCrawler('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')?.name; // 'Googlebot'
 * claimedCrawler('Googlebott/1.0'); // null
 */
export function claimedCrawler(userAgent: string): KnownCrawler | null {
  if (typeof userAgent !== 'string' || userAgent.length === 0) return null;
  const head = userAgent.length > USER_AGENT_PREFIX ? userAgent.slice(0, USER_AGENT_PREFIX) : userAgent;
  for (const crawler of KNOWN_CRAWLERS) if (crawler.userAgent.test(head)) return crawler;
  return null;
}

export interface CrawlerVerdict {
  verified: boolean;
  /** The crawler's name, as in KNOWN_CRAWLERS. */
  crawler: string;
  /** The reverse DNS name the verdict is about, when there was one. */
  hostname?: string;
  /** In plain words, for evidence and logs. */
  reason: string;
}

/**
 * The three lookups verification needs. node:dns/promises `Resolver` has this shape, but
 * its reverse() reports a timeout as ENOTFOUND ("no name", cached for negativeTtlMs); the
 * default resolver asks resolvePtr instead, so a timeout stays a short-lived failure.
 */
export interface CrawlerDnsResolver {
  /** PTR names of an address; rejects with code ENOTFOUND or ENODATA when there is none. */
  reverse(ip: string): Promise<string[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface CrawlerVerifierOptions {
  /** Default: node:dns/promises `Resolver` (on `servers`, each query `timeoutMs`, one try). */
  resolver?: CrawlerDnsResolver;
  /** DNS servers for the default resolver, e.g. ['127.0.0.1:5353']; default: the system's. */
  servers?: string[];
  /** Budget for one whole verification (reverse and forward lookups). Default 2000. */
  timeoutMs?: number;
  /** Verdicts kept; the oldest goes first. Default 10000. */
  cacheSize?: number;
  /** How long "verified" is trusted. Default 24 h. */
  positiveTtlMs?: number;
  /** How long a refusal (wrong domain, no PTR, forward mismatch) holds. Default 1 h. */
  negativeTtlMs?: number;
  /** How long a DNS failure or timeout holds before asking again. Default 5 min. */
  errorTtlMs?: number;
  /**
   * Lookups running at once; a verify beyond it is "not verified" at once (and not cached),
   * so a flood of claimed crawlers from many addresses cannot queue unbounded DNS work.
   * Default 100.
   */
  maxInFlight?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

export interface CrawlerVerifierStats {
  /** Verifications that went to DNS. */
  lookups: number;
  /** Verifies answered from the cache. */
  cacheHits: number;
  /** Verifies that joined a lookup already in flight for the same client and crawler. */
  sharedLookups: number;
  verified: number;
  refused: number;
  /** Lookups ended by a DNS error or timeout (counted in `refused` too). */
  dnsFailures: number;
  /** Verifies refused without a lookup because maxInFlight lookups were running (counted in `refused` too). */
  overloaded: number;
  /** Verdicts in the cache now. */
  cached: number;
}

export interface CrawlerVerifier {
  /** Never throws: a DNS failure is a verdict with verified: false. */
  verify(ip: string, crawler: KnownCrawler): Promise<CrawlerVerdict>;
  stats(): CrawlerVerifierStats;
}

/** At most this many PTR names under the domain get a forward lookup: a hostile PTR set cannot fan out. */
const MAX_FORWARD_CHECKS = 3;
/** Names in reasons are cut here (a DNS name is at most 253 characters anyway). */
const MAX_NAME_SHOWN = 253;
/** c-ares codes that mean "the name has no such record": a definitive answer, not a failure. */
const NO_SUCH_RECORD = new Set(['ENOTFOUND', 'ENODATA']);

/** The PTR question name for an address: 1.66.249.66.in-addr.arpa, or 32 nibbles + .ip6.arpa. */
export function reverseName(ip: string): string {
  const p = parseIp(ip);
  if (!p) throw new IpwatchError('IPWATCH_INVALID_ADDRESS', `${JSON.stringify(ip)} is not an IP address`);
  if (p.version === 4) {
    const v = Number(p.value);
    return `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}.in-addr.arpa`;
  }
  return [...p.value.toString(16).padStart(32, '0')].reverse().join('.') + '.ip6.arpa';
}

function systemResolver(servers: string[] | undefined, timeoutMs: number): CrawlerDnsResolver {
  // One try per query: the verification's own budget (timeoutMs) is the limit, not c-ares' 4 tries.
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers && servers.length > 0) {
    try {
      resolver.setServers(servers);
    } catch (err) {
      throw new IpwatchError('IPWATCH_BAD_OPTION', `crawler verification: DNS servers ${JSON.stringify(servers)} are not valid (${(err as Error).message}); give addresses such as "10.0.0.2", "10.0.0.2:53" or "[2001:db8::53]:53"`, { cause: err });
    }
  }
  return {
    // resolvePtr, not reverse(): c-ares' reverse() falls back to /etc/hosts after a DNS
    // timeout and reports ENOTFOUND, which would read as "no PTR" and be cached for an hour.
    reverse: (ip) => resolver.resolvePtr(reverseName(ip)),
    resolve4: (name) => resolver.resolve4(name),
    resolve6: (name) => resolver.resolve6(name),
  };
}

function positiveNumber(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new IpwatchError('IPWATCH_BAD_OPTION', `crawler verification: ${name} must be a number of at least ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A DNS name as compared: lower case, no trailing dot. */
function normalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function shown(name: string): string {
  return name.length > MAX_NAME_SHOWN ? `${name.slice(0, MAX_NAME_SHOWN)}...` : name;
}

/** The name is the domain itself or below it: "evilgooglebot.com" is not under "googlebot.com". */
export function isUnderDomain(name: string, domains: readonly string[]): boolean {
  const n = normalName(name);
  return domains.some((d) => {
    const domain = normalName(d);
    return n === domain || n.endsWith(`.${domain}`);
  });
}

type Outcome = { verdict: CrawlerVerdict; kind: 'verified' | 'refused' | 'failed' };

/**
 * A verifier with a bounded verdict cache; concurrent verifies of one client share one lookup.
 *
 * @example
 * const verifier = createCrawlerVerifier({ servers: ['127.0.0.1:5353'], timeoutMs: 1000 });
 * const verdict = await verifier.verify('66.249.66.1', KNOWN_CRAWLERS[0]!);
 * if (!verdict.verified) console.log(verdict.reason); // "reverse DNS name evil.example is not under googlebot.com, google.com"
 */
export function createCrawlerVerifier(options: CrawlerVerifierOptions = {}): CrawlerVerifier {
  const timeoutMs = positiveNumber('timeoutMs', options.timeoutMs ?? 2000, 1);
  const cacheSize = positiveNumber('cacheSize', options.cacheSize ?? 10_000, 1);
  const maxInFlight = positiveNumber('maxInFlight', options.maxInFlight ?? 100, 1);
  const ttl = {
    verified: positiveNumber('positiveTtlMs', options.positiveTtlMs ?? 24 * 3600_000, 0),
    refused: positiveNumber('negativeTtlMs', options.negativeTtlMs ?? 3600_000, 0),
    failed: positiveNumber('errorTtlMs', options.errorTtlMs ?? 5 * 60_000, 0),
  };
  const now = options.now ?? Date.now;
  const resolver = options.resolver ?? systemResolver(options.servers, timeoutMs);

  // A Map iterates in insertion order: the first key is the oldest verdict, evicted first.
  const cache = new Map<string, { verdict: CrawlerVerdict; expiresAt: number }>();
  const inFlight = new Map<string, Promise<CrawlerVerdict>>();
  const counts = { lookups: 0, cacheHits: 0, sharedLookups: 0, verified: 0, refused: 0, dnsFailures: 0, overloaded: 0 };

  const failed = (crawler: KnownCrawler, step: string, err: unknown, hostname?: string): Outcome => {
    const code = (err as { code?: unknown } | null)?.code;
    const reason = code === 'ETIMEOUT'
      ? `DNS did not answer within ${timeoutMs} ms`
      : `${step} failed (${typeof code === 'string' ? code : (err as Error)?.message ?? String(err)})`;
    return { kind: 'failed', verdict: { verified: false, crawler: crawler.name, ...(hostname ? { hostname } : {}), reason } };
  };
  const refused = (crawler: KnownCrawler, reason: string, hostname?: string): Outcome =>
    ({ kind: 'refused', verdict: { verified: false, crawler: crawler.name, ...(hostname ? { hostname } : {}), reason } });

  async function check(ip: string, version: 4 | 6, crawler: KnownCrawler): Promise<Outcome> {
    let names: string[];
    try {
      names = (await resolver.reverse(ip)).filter((n): n is string => typeof n === 'string' && n.length > 0).map(normalName);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && NO_SUCH_RECORD.has(code)) return refused(crawler, `reverse DNS of ${ip} gives no name`);
      return failed(crawler, `reverse DNS of ${ip}`, err);
    }
    if (names.length === 0) return refused(crawler, `reverse DNS of ${ip} gives no name`);
    const candidates = names.filter((n) => isUnderDomain(n, crawler.domains)).slice(0, MAX_FORWARD_CHECKS);
    if (candidates.length === 0) {
      return refused(crawler, `reverse DNS name ${shown(names[0]!)} is not under ${crawler.domains.join(', ')}`, shown(names[0]!));
    }
    const record = version === 4 ? 'A' : 'AAAA';
    let refusal: Outcome | undefined;
    for (const host of candidates) {
      let addresses: string[];
      try {
        addresses = await (version === 4 ? resolver.resolve4(host) : resolver.resolve6(host));
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if (typeof code === 'string' && NO_SUCH_RECORD.has(code)) {
          refusal = refused(crawler, `reverse DNS ${ip} -> ${host}, but ${host} has no ${record} record`, host);
          continue;
        }
        return failed(crawler, `forward lookup (${record}) of ${host}`, err, host);
      }
      if (addresses.some((a) => canonicalIp(a) === ip)) {
        return { kind: 'verified', verdict: { verified: true, crawler: crawler.name, hostname: host, reason: `reverse DNS ${ip} -> ${host}, forward lookup returns the same address` } };
      }
      const listed = addresses.slice(0, 3).join(', ') + (addresses.length > 3 ? `, ... (${addresses.length})` : '');
      refusal = refused(crawler, `reverse DNS ${ip} -> ${host}, but the forward lookup (${record}) of ${host} returns ${listed || 'nothing'}, not ${ip}`, host);
    }
    return refusal!;
  }

  /** check() within the budget; a lookup still running past it is left to end on its own (c-ares stops it at timeoutMs too). */
  async function checkWithin(ip: string, version: 4 | 6, crawler: KnownCrawler): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve(failed(crawler, 'DNS', { code: 'ETIMEOUT' })), timeoutMs);
    });
    try {
      // check() catches every DNS error itself; this catch is for a resolver that throws synchronously or returns garbage.
      return await Promise.race([check(ip, version, crawler).catch((err: unknown) => failed(crawler, 'DNS', err)), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  function remember(key: string, outcome: Outcome): void {
    const life = ttl[outcome.kind];
    if (life <= 0) return;
    cache.delete(key); // re-inserted at the end: the newest
    cache.set(key, { verdict: outcome.verdict, expiresAt: now() + life });
    while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  }

  return {
    verify(ip: string, crawler: KnownCrawler): Promise<CrawlerVerdict> {
      const canonical = typeof ip === 'string' ? canonicalIp(ip) : null;
      if (canonical === null) {
        counts.refused++;
        return Promise.resolve({ verified: false, crawler: crawler.name, reason: `${JSON.stringify(String(ip).slice(0, 64))} is not an IP address` });
      }
      const key = `${crawler.name} ${canonical}`;
      const hit = cache.get(key);
      if (hit) {
        if (hit.expiresAt > now()) {
          counts.cacheHits++;
          return Promise.resolve(hit.verdict);
        }
        cache.delete(key);
      }
      const running = inFlight.get(key);
      if (running) {
        counts.sharedLookups++;
        return running;
      }
      if (inFlight.size >= maxInFlight) {
        counts.refused++;
        counts.overloaded++;
        return Promise.resolve({ verified: false, crawler: crawler.name, reason: `${maxInFlight} crawler verifications already running; not verified this time` });
      }
      counts.lookups++;
      const version = canonical.includes(':') ? 6 : 4;
      const lookup = checkWithin(canonical, version, crawler).then((outcome) => {
        inFlight.delete(key);
        if (outcome.kind === 'verified') counts.verified++;
        else counts.refused++;
        if (outcome.kind === 'failed') counts.dnsFailures++;
        remember(key, outcome);
        return outcome.verdict;
      });
      inFlight.set(key, lookup);
      return lookup;
    },
    stats(): CrawlerVerifierStats {
      return { ...counts, cached: cache.size };
    },
  };
}
