/**
 * Simulated visitors for the demo: browsers, a crawler, a scanner probing for admin pages,
 * a password guesser and a noisy client, from real-world addresses (taken from a public
 * 2015 access log) so the geolocation has something to show. Requests carry the visitor's
 * address in X-Forwarded-For; the demo app trusts only loopback to set it.
 */
import { request } from 'node:http';

interface Visitor {
  ip: string;
  userAgent: string;
  next(): { method: 'GET' | 'POST'; path: string; body?: string };
  /** Relative share of the traffic. */
  weight: number;
}

const BROWSER_IPS = [
  '66.6.147.80', '204.62.56.3', '61.140.183.41', '184.66.149.103', '178.255.215.83', '183.179.22.186', '91.213.10.2',
  '94.79.44.40', '122.166.142.108', '86.56.94.63', '84.112.29.184', '89.107.177.18', '85.115.58.180', '95.148.254.71',
  '88.103.19.195', '99.33.244.41', '75.97.9.59', '24.11.96.184', '138.96.204.237', '150.162.56.185', '91.114.206.13',
  '81.170.148.153', '84.233.151.236', '76.103.82.13', '86.182.52.145', '93.210.154.199', '79.171.127.34',
  '2a01:e35:2e3a:1234::1', '2001:4860:4860::8888', '2606:4700:4700::1111',
];
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

function visitors(): Visitor[] {
  const browsing = ['/', '/products', '/products/1', '/products/2', '/static/site.css', '/products/9', '/about'];
  const list: Visitor[] = BROWSER_IPS.map((ip) => ({ ip, userAgent: BROWSER_UA, weight: 1, next: () => ({ method: 'GET', path: pick(browsing) }) }));
  list.push({
    ip: '66.249.73.135', // a search-engine crawler
    userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    weight: 4,
    next: () => ({ method: 'GET', path: pick(['/', '/products', '/products/1', '/products/2', '/robots.txt', '/sitemap.xml']) }),
  });
  list.push({
    ip: '176.31.103.52', // a scanner looking for admin pages and secrets
    userAgent: 'Mozilla/5.0 zgrab/0.x',
    weight: 3,
    next: () => ({ method: 'GET', path: pick(['/wp-login.php', '/wp-admin/', '/.env', '/admin', '/phpmyadmin/', '/.git/config', '/xmlrpc.php', '/boom']) }),
  });
  list.push({
    ip: '144.76.194.187', // a password guesser
    userAgent: 'python-requests/2.31',
    weight: 2,
    next: () => ({ method: 'POST', path: '/login', body: `username=${pick(['admin', 'alice', 'root'])}&password=${Math.random().toString(36).slice(2, 8)}` }),
  });
  list.push({
    ip: '208.115.113.88', // a noisy client polling far too often
    userAgent: 'curl/8.5.0',
    weight: 6,
    next: () => ({ method: 'GET', path: '/products' }),
  });
  return list;
}

export interface SimulatorOptions {
  port: number;
  /** Requests per second, roughly. */
  rate: number;
  /** Requests in flight at most. */
  concurrency?: number;
}

export interface Simulator {
  stop(): Promise<void>;
  /** Requests sent that got an answer. */
  sent(): number;
  failed(): number;
}

export function startSimulator(options: SimulatorOptions): Simulator {
  const pool = visitors();
  const totalWeight = pool.reduce((s, v) => s + v.weight, 0);
  const choose = () => {
    let r = Math.random() * totalWeight;
    for (const v of pool) if ((r -= v.weight) <= 0) return v;
    return pool[0]!;
  };
  const concurrency = options.concurrency ?? 16;
  let inFlight = 0;
  let sent = 0;
  let failed = 0;
  let stopped = false;
  const idle: Array<() => void> = [];

  const fire = () => {
    const v = choose();
    const r = v.next();
    inFlight++;
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        method: r.method,
        path: r.path,
        headers: {
          'x-forwarded-for': v.ip,
          'user-agent': v.userAgent,
          ...(r.body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(r.body) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          sent++;
          done();
        });
      },
    );
    req.on('error', () => {
      failed++;
      done();
    });
    req.end(r.body);
  };
  const done = () => {
    inFlight--;
    if (inFlight === 0) idle.splice(0).forEach((f) => f());
  };

  // Spread each second's requests over ten ticks.
  const perTick = options.rate / 10;
  let credit = 0;
  const timer = setInterval(() => {
    credit += perTick;
    while (credit >= 1 && inFlight < concurrency) {
      credit--;
      fire();
    }
    credit = Math.min(credit, perTick * 2);
  }, 100);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
    },
    sent: () => sent,
    failed: () => failed,
  };
}
