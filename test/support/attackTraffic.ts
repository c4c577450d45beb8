/**
 * Attacks and ordinary visits as real HTTP requests, for the detection tests: each helper is a
 * kind of client (a scanner, a credential stuffer, a flood, a reader of image-heavy pages, a
 * feed reader...) sending its requests to the app on `port` as the client `ip` behind a trusted
 * proxy (X-Forwarded-For picks the client), plus fresh client addresses for each test file and
 * `eventually` to wait for what the requests lead to. The app and the pipeline behind it are
 * in detectionRig.ts.
 *
 * @example
 * const plan = addressPlan();
 * const ip = plan.v4();
 * await scan(rig.port, ip, SENSITIVE_PATHS);
 * await eventually('the scan is enriched', () => rig.enriched.items.some((r) => r.ip === ip));
 */
import { randomInt } from 'node:crypto';

// ---------------------------------------------------------------------------------------
// Requests

export const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
export const FEED_READER_UA = 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers)';
export const GOOGLEBOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
/** scanner-user-agent fires on the first request with it: a one-request detection. */
export const SQLMAP_UA = 'sqlmap/1.8.2#stable (https://sqlmap.org)';

export interface Hit {
  ip: string;
  userAgent?: string;
  method?: string;
  json?: unknown;
}

/** One request to the app as the client `ip` behind the trusted proxy; the status it got. */
export async function hit(port: number, path: string, h: Hit): Promise<number> {
  const body = h.json === undefined ? undefined : JSON.stringify(h.json);
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: h.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      'x-forwarded-for': h.ip,
      'user-agent': h.userAgent ?? BROWSER_UA,
      accept: 'text/html,*/*',
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `task` over `items`, `width` at a time, keeping the results in order. */
async function pool<T, R>(items: readonly T[], width: number, task: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scanner asking for paths one after the other; `ips` rotates the address per request. */
export function scan(port: number, ips: string | readonly string[], paths: readonly string[], userAgent = 'curl/8.5.0'): Promise<number[]> {
  const at = (i: number) => (typeof ips === 'string' ? ips : (ips[i % ips.length] as string));
  return pool(paths, 1, (p, i) => hit(port, p, { ip: at(i), userAgent }));
}

/** Files no visitor asks for, the order scanners try them in. */
export const SENSITIVE_PATHS = ['/.env', '/.git/config', '/wp-config.php.bak', '/backup.sql', '/.aws/credentials', '/id_rsa'] as const;

/** Failed logins: `attempts` tries, for one username or rotating through `usernames`. */
export function failLogins(port: number, ip: string, usernames: readonly string[], attempts = usernames.length): Promise<number[]> {
  return pool(Array.from({ length: attempts }, (_, i) => usernames[i % usernames.length] as string), 1, (username) =>
    hit(port, '/login', { ip, json: { username, password: `guess-${randomInt(1e9)}` } }),
  );
}

/** `count` page requests as fast as `width` connections go (a flood is a page request per path). */
export function flood(port: number, ip: string, count: number, opts: { userAgent?: string; width?: number } = {}): Promise<number[]> {
  return pool(Array.from({ length: count }, (_, i) => `/article/${i}?ref=${i % 7}`), opts.width ?? 6, (p) => hit(port, p, { ip, userAgent: opts.userAgent ?? 'python-requests/2.32.3' }));
}

/**
 * A client most of whose requests fail (/broken answers 500), paced so that no volume rule
 * fires: `errors` failures and `total - errors` good pages, interleaved.
 */
export function mostlyErrors(port: number, ip: string, total: number, errors: number, gapMs = 40): Promise<number[]> {
  // Spread evenly: request i fails when it brings the failures to round((i + 1) * errors / total).
  const failsAt = (i: number) => Math.floor(((i + 1) * errors) / total) > Math.floor((i * errors) / total);
  const paths = Array.from({ length: total }, (_, i) => (failsAt(i) ? `/broken?attempt=${i}` : `/article/${i}`));
  return pool(paths, 1, async (p) => {
    const s = await hit(port, p, { ip });
    await sleep(gapMs);
    return s;
  });
}

/** An ordinary visitor: the home page and its assets, then a few articles with theirs. */
export async function browse(port: number, ip: string, pages = 3): Promise<number[]> {
  const statuses: number[] = [];
  const view = async (page: string) => {
    statuses.push(await hit(port, page, { ip }));
    statuses.push(...(await pool(['/static/site.css', '/static/app.js', '/img/logo.png', '/favicon.ico'], 4, (a) => hit(port, a, { ip }))));
  };
  await view('/');
  for (let i = 0; i < pages; i++) {
    await sleep(50 + randomInt(100));
    await view(`/article/${randomInt(1000)}`);
  }
  return statuses;
}

/** A reader of image-heavy pages: each page and its `images` pictures, fetched six at a time as browsers do. */
export async function imageHeavyReader(port: number, ip: string, pages: number, images = 40): Promise<number[]> {
  const statuses: number[] = [];
  for (let p = 0; p < pages; p++) {
    statuses.push(await hit(port, `/gallery/${p}`, { ip }));
    statuses.push(...(await pool(Array.from({ length: images }, (_, i) => `/img/gallery-${p}-${i}.jpg`), 6, (img) => hit(port, img, { ip }))));
  }
  return statuses;
}

/** A feed reader polling /feed.xml every `everyMs` until `polls` polls are done (or `stop()` is called). */
export function feedReader(port: number, ip: string, polls: number, everyMs: number): { done: Promise<number[]>; stop(): void } {
  let stopped = false;
  const done = (async () => {
    const statuses: number[] = [];
    for (let i = 0; i < polls && !stopped; i++) {
      if (i > 0) await sleep(everyMs);
      statuses.push(await hit(port, '/feed.xml', { ip, userAgent: FEED_READER_UA }));
    }
    return statuses;
  })();
  return { done, stop: () => void (stopped = true) };
}

/**
 * Addresses no other test file uses: a random /16 of the shared address space (100.64.0.0/10)
 * and a random /48 of the documentation prefix (below 2001:db8:f000::, clear of the ranges the
 * enforcement tests block), handed out one by one. The broker lives for the whole run, and its
 * blocks topic with it: a fresh plan per file keeps one file's blocks off another's clients.
 */
export function addressPlan() {
  const a = randomInt(64, 128);
  const v6 = `2001:db8:${randomInt(0x1000, 0xf000).toString(16)}`;
  let n = 0;
  return {
    /** A fresh IPv4 address. */
    v4(): string {
      n++;
      return `100.${a}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    },
    /** A fresh IPv6 /64 (its network, e.g. 2001:db8:abcd:7::/64) and addresses inside it, written canonically. */
    v6Net(): { net: string; addr: (i: number) => string } {
      n++;
      const prefix = `${v6}:${n.toString(16)}`;
      return { net: `${prefix}::/64`, addr: (i: number) => `${prefix}:${i.toString(16)}::${(i * 7 + 1).toString(16)}` };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Waiting for what the requests lead to

/** Polls `check` every 20 ms until it holds; throws naming `what` after `timeoutMs`. Returns the ms it took. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not so after ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}
