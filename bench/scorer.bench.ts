/**
 * bench:scorer: the detection engine's rule evaluation (services/scorer/src/engine) with every
 * default rule on, fed from memory: how many events per second one thread scores, and how many
 * bytes a tracked client costs at a million of them.
 *
 *   npm run bench:scorer -- [--events 1000000] [--rounds 5] [--clients 200000] [--memory-clients 1000000]
 *
 * One core: the engine is synchronous and single-threaded (a scorer instance scales out by
 * partitions, not threads); only V8's own GC helpers run beside it.
 *
 * The traffic: the 10,000 lines of the real access log (../shared/data, read with `ipwatch
 * replay`'s parser: paths, user agents, methods and statuses as a real site saw them), cycled
 * in order, each request given to one of --clients addresses at random (9 in 10 IPv4, 1 in
 * 10 IPv6, scored per /64), event time advancing 2,000 requests a second. 2% of the events
 * are attacks from a few clients at a time (fresh addresses every round): a scanner's user
 * agent with SQL injection, probes for /.env and /.git, a 404 path scan, credential stuffing
 * on /login, a burst of 60 pages in seconds; each round makes about 2,000 detections, so the
 * cost of building them (evidence, ids) is in the figure.
 *
 * - events_per_s: engine.observe() over --events pre-built ScoredRequest objects (and
 *   engine.observeLogin() for the failed logins, as the scorer does from the logins topic); one warm-up
 *   round (JIT, the table filled to its working size), then --rounds timed rounds, the median.
 *   Time runs on between rounds (the same clients, their windows kept), GC before each round.
 * - bytes_per_client: a fresh engine given one request each from --memory-clients distinct
 *   clients (address strings made on the fly, so the table's keys are counted);
 *   heapUsed + arrayBuffers after gc, minus before, divided by the clients tracked.
 * Baseline in the same run: a plain Map<string, number> counting requests per client, the
 * floor for "something per client": its events/s over the same events and its bytes per client.
 *
 * The last line of stdout is one JSON object with the figures and the targets.
 *
 * Last runs (2 vCPU shared with other helpers' test runs, node 20): events_per_s 290,000-325,000
 * (188,000 with the machine loaded at 3.8), about 1,360 detections a round; bytes_per_client
 * 268.5 at 1,000,000 clients (176 of it the counters in typed arrays: 44 four-byte columns,
 * the rest the key string, its Map entry and slot); baseline Map counter 3.6-4.2 million
 * events/s and 92 bytes per client.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import { formatIp } from '@ipwatch/core/ip';
import { DEFAULT_RULES } from '@ipwatch/core/rules';
import { createDetectionEngine, type ScoredRequest } from '../services/scorer/src/engine/engine.ts';
import { accessLogEvents } from './support/accessLog.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '200000' },
    'memory-clients': { type: 'string', default: '1000000' },
  },
});
const EVENTS = Number(args.events);
const ROUNDS = Number(args.rounds);
const CLIENTS = Number(args.clients);
const MEMORY_CLIENTS = Number(args['memory-clients']);
/** Event time: requests per second the traffic arrives at (the windows see this rate). */
const EVENT_RATE = 2000;
const ATTACK_SHARE = 0.02;
/** Attackers active at once: few, so each one's requests fall close together in event time. */
const ACTIVE_ATTACKERS = 4;
const TARGETS = { events_per_s: 100_000, bytes_per_client: 300 };

// gc() from --expose-gc (the npm script sets it in NODE_OPTIONS), or made here when run otherwise.
const gc: () => void =
  typeof globalThis.gc === 'function'
    ? (globalThis.gc as () => void)
    : (() => {
        setFlagsFromString('--expose-gc');
        return runInNewContext('gc') as () => void;
      })();
const settled = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const arrayBuffers = (): number => process.memoryUsage().arrayBuffers;

/** mulberry32: a fast seeded PRNG, so every run makes the same traffic. */
let seed = 0x5c02e5;
function rand32(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) >>> 0;
}
const randInt = (n: number): number => rand32() % n;
const v4Text = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
/** Public-looking IPv4 (first octet 1..223, not 100.64/10, which the attackers use). */
const v4Client = (): string => v4Text((((1 + randInt(223)) << 24) | (rand32() & 0xffffff)) >>> 0);
/** A global-unicast IPv6 address as a browser's privacy address would be (random low 64 bits). */
const v6Client = (): string =>
  formatIp({ version: 6, value: ((0x2000n | BigInt(randInt(0x1fff))) << 112n) | (BigInt(rand32()) << 80n) | (BigInt(rand32() & 0xffff) << 64n) | (BigInt(rand32()) << 32n) | BigInt(rand32()) });

interface Template {
  method: string;
  path: string;
  status: number;
  userAgent: string;
}

const request = (t: Template, ip: string, ts: number, login: 'none' | 'failed' = 'none', loginUser: string | null = null): ScoredRequest => ({
  ts,
  ip,
  ipAnonymisation: 'off',
  method: t.method,
  path: t.path,
  status: t.status,
  userAgent: t.userAgent,
  blocked: false,
  login,
  loginUser,
});

/** What attackers send, one script per kind; each request is made when the attacker's turn comes. */
type Script = (step: number) => { t: Template; login?: 'failed'; user?: string } | null;
const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const SCRIPTS: Record<string, Script> = {
  // scanner-user-agent on the first request, injection on the second
  scanner: (k) => (k < 5 ? { t: { method: 'GET', path: `/index.php?id=${k}%27%20UNION%20ALL%20SELECT%20NULL,NULL--`, status: 200, userAgent: 'sqlmap/1.7.2#stable (https://sqlmap.org)' } } : null),
  // sensitive-files on the second
  files: (k) => {
    const paths = ['/.env', '/.git/config', '/wp-config.php.bak', '/backup.sql', '/.aws/credentials', '/config.json'];
    return k < paths.length ? { t: { method: 'GET', path: paths[k]!, status: 404, userAgent: 'python-requests/2.31.0' } } : null;
  },
  // path-scan past 20 distinct 404s, and error-ratio
  pathscan: (k) => (k < 30 ? { t: { method: 'GET', path: `/${['old', 'test', 'demo', 'api', 'v1', 'tmp'][k % 6]}/${(k * 7919).toString(36)}.php`, status: 404, userAgent: 'Go-http-client/1.1' } } : null),
  // credential-stuffing on the 5th username, login-failures on the 11th failure; the stuffers
  // share eight usernames, so account-attack counts them across clients too
  stuffing: (k) => (k < 15 ? { t: { method: 'POST', path: '/login', status: 401, userAgent: BROWSER }, login: 'failed', user: `user${k % 8}@example.com` } : null),
  // burst: more than 50 pages in 10 seconds
  burst: (k) => (k < 60 ? { t: { method: 'GET', path: `/articles/${k}`, status: 200, userAgent: BROWSER } } : null),
};
const KINDS = Object.keys(SCRIPTS);

interface Traffic {
  events: ScoredRequest[];
  /** For each event, the attacker it belongs to in its round, or -1 for ordinary traffic. */
  attacker: Int32Array;
  attackers: number;
  /** For each ordinary event, its client (an index into `clients`) in round 0. */
  client: Int32Array;
  clients: string[];
}

/** The event stream, made once; each round rewrites the times and the attackers' addresses. */
function makeTraffic(templates: Template[]): Traffic {
  const clients = Array.from({ length: CLIENTS }, (_, i) => (i % 10 === 9 ? v6Client() : v4Client()));
  const events: ScoredRequest[] = new Array(EVENTS);
  const attacker = new Int32Array(EVENTS).fill(-1);
  const client = new Int32Array(EVENTS);
  const active: { id: number; script: Script; step: number }[] = [];
  let attackers = 0;
  for (let i = 0; i < EVENTS; i++) {
    if (rand32() / 2 ** 32 < ATTACK_SHARE) {
      while (active.length < ACTIVE_ATTACKERS) active.push({ id: attackers++, script: SCRIPTS[KINDS[randInt(KINDS.length)]!]!, step: 0 });
      const at = randInt(active.length);
      const a = active[at]!;
      const next = a.script(a.step++);
      if (next !== null) {
        events[i] = request(next.t, '', 0, next.login ?? 'none', next.user ?? null);
        attacker[i] = a.id;
        continue;
      }
      active.splice(at, 1); // done: an ordinary request takes its place
    }
    client[i] = randInt(CLIENTS);
    events[i] = request(templates[i % templates.length]!, clients[client[i]!]!, 0);
  }
  return { events, attacker, attackers, client, clients };
}

/**
 * Sets each event's time for round `r` (time runs on from round to round), gives the attackers
 * fresh addresses, and deals the ordinary requests to the clients differently (else each
 * client would ask for the same things again every round: twice the same tarball in ten
 * minutes is what sensitive-files blocks).
 */
function prepareRound(traffic: Traffic, r: number, t0: number): void {
  const base = (100 << 24) | (64 << 16) | ((r & 0x3f) << 16); // 100.64.0.0/10, a /16 per round
  const ips = Array.from({ length: traffic.attackers }, (_, a) => v4Text((base + a) >>> 0));
  const span = (EVENTS * 1000) / EVENT_RATE;
  const { events, attacker, client, clients } = traffic;
  const shift = r * 7919;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    e.ts = t0 + r * span + Math.floor((i * 1000) / EVENT_RATE);
    const a = attacker[i]!;
    if (a >= 0) e.ip = ips[a]!;
    else e.ip = clients[(client[i]! + shift) % CLIENTS]!;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Distinct client addresses made on the fly (so that only the table keeps them): 9 in 10 IPv4, 1 in 10 an IPv6 /64 of its own. */
function distinctClient(i: number): string {
  if (i % 10 === 9) return `2001:db8:${((i >>> 16) & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}::1`;
  return v4Text((Math.imul(i + 1, 0x9e3779b1) >>> 0) | 0x01000000); // odd multiplier: a bijection on 32 bits, so no address repeats
}

function main(): void {
  if (EVENTS < 10_000 || ROUNDS < 1 || CLIENTS < 1 || MEMORY_CLIENTS < 1000) throw new Error('--events at least 10000, --rounds at least 1, --clients at least 1, --memory-clients at least 1000');
  const templates: Template[] = accessLogEvents().map((e) => ({ method: e.method, path: e.path, status: e.status, userAgent: e.userAgent }));
  const t0 = Date.UTC(2026, 0, 5, 9, 0, 0);
  console.log(`bench:scorer: ${DEFAULT_RULES.filter((r) => r.enabled).length} default rules, ${templates.length.toLocaleString('en')} real log lines; node ${process.version}, one thread`);

  // 1. Memory at a million clients, on a quiet heap first.
  let engine = createDetectionEngine({ rules: DEFAULT_RULES, maxClients: Math.max(1_000_000, MEMORY_CLIENTS) });
  let before = settled();
  const buffersBefore = arrayBuffers();
  for (let i = 0; i < MEMORY_CLIENTS; i++) engine.observe(request(templates[i % templates.length]!, distinctClient(i), t0 + Math.floor((i * 1000) / EVENT_RATE)));
  const engineBytes = settled() - before;
  const columnBytes = arrayBuffers() - buffersBefore;
  const memStats = engine.stats();
  const bytesPerClient = engineBytes / memStats.clients;
  console.log(
    `memory: ${memStats.clients.toLocaleString('en')} clients tracked (${memStats.evictedForCap} evicted for room, ${memStats.evidenceClients} with evidence): ` +
      `${round(engineBytes / 2 ** 20, 1)} MB, ${round(bytesPerClient, 1)} bytes per client, of which ${round(columnBytes / memStats.clients, 1)} in typed arrays (the counters) and the rest on the heap (keys, the key map)`,
  );
  engine = createDetectionEngine({ rules: [] });

  before = settled();
  let counts: Map<string, number> | null = new Map<string, number>();
  for (let i = 0; i < MEMORY_CLIENTS; i++) {
    const ip = distinctClient(i);
    counts.set(ip, (counts.get(ip) ?? 0) + 1);
  }
  const mapBytes = settled() - before;
  const mapBytesPerClient = mapBytes / counts.size;
  console.log(`baseline memory: Map<string, number> of ${counts.size.toLocaleString('en')} clients: ${round(mapBytes / 2 ** 20, 1)} MB, ${round(mapBytesPerClient, 1)} bytes per client`);
  counts = null;

  // 2. Throughput.
  let t = performance.now();
  const traffic = makeTraffic(templates);
  console.log(`traffic: ${EVENTS.toLocaleString('en')} events per round (${traffic.attackers} attackers, ${round(100 * ATTACK_SHARE)}% of events), ${CLIENTS.toLocaleString('en')} ordinary clients, made in ${round(performance.now() - t)} ms`);
  engine = createDetectionEngine({ rules: DEFAULT_RULES });
  const rates: number[] = [];
  const detectionsByRule: Record<string, number> = {};
  let detections = 0;
  for (let r = 0; r <= ROUNDS; r++) {
    prepareRound(traffic, r, t0);
    const byRule: Record<string, number> = {};
    let found = 0;
    gc();
    const events = traffic.events;
    t = performance.now();
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const c = engine.observe(e);
      if (c.length !== 0) {
        found += c.length;
        for (const d of c) byRule[d.rule.id] = (byRule[d.rule.id] ?? 0) + 1;
      }
      // The live scorer judges a failed login again, by the account rules, from the logins topic.
      if (e.login === 'failed') {
        for (const d of engine.observeLogin(e)) {
          found++;
          byRule[d.rule.id] = (byRule[d.rule.id] ?? 0) + 1;
        }
      }
    }
    const ms = performance.now() - t;
    const rate = (events.length * 1000) / ms;
    const s = engine.stats();
    console.log(`${r === 0 ? 'warm-up' : `round ${r}`}: ${round(rate).toLocaleString('en')} events/s (${round(ms)} ms), ${found} detections, ${s.clients.toLocaleString('en')} clients tracked`);
    if (r === 0) continue;
    rates.push(rate);
    detections += found;
    for (const [k, n] of Object.entries(byRule)) detectionsByRule[k] = (detectionsByRule[k] ?? 0) + n;
  }
  const eventsPerS = median(rates);
  console.log(`detections over the timed rounds, by rule: ${Object.entries(detectionsByRule).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);

  // Baseline: a counter per client over the same events.
  const floor = new Map<string, number>();
  const mapRates: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const events = traffic.events;
    gc();
    t = performance.now();
    for (let i = 0; i < events.length; i++) {
      const ip = events[i]!.ip;
      floor.set(ip, (floor.get(ip) ?? 0) + 1);
    }
    if (r > 0) mapRates.push((events.length * 1000) / (performance.now() - t));
  }
  const mapEventsPerS = median(mapRates);
  console.log(`baseline: Map<string, number> counter per client ${round(mapEventsPerS).toLocaleString('en')} events/s`);

  const meets = eventsPerS >= TARGETS.events_per_s && bytesPerClient <= TARGETS.bytes_per_client;
  console.log(
    `engine: ${round(eventsPerS).toLocaleString('en')} events/s (target >= ${TARGETS.events_per_s.toLocaleString('en')}), ${round(bytesPerClient, 1)} bytes per client at ${memStats.clients.toLocaleString('en')} clients (target <= ${TARGETS.bytes_per_client}): ${meets ? 'meets both' : 'misses'}`,
  );
  const result = {
    bench: 'scorer',
    rules: engine.stats().rules,
    events_per_round: EVENTS,
    rounds: ROUNDS,
    clients: CLIENTS,
    events_per_s: round(eventsPerS),
    events_per_s_rounds: rates.map((x) => round(x)),
    detections_per_round: round(detections / ROUNDS),
    detections_by_rule: detectionsByRule,
    threads: 1,
    memory_clients: memStats.clients,
    bytes_per_client: round(bytesPerClient, 1),
    typed_array_bytes_per_client: round(columnBytes / memStats.clients, 1),
    memory_mb: round(engineBytes / 2 ** 20, 1),
    baseline_map_events_per_s: round(mapEventsPerS),
    baseline_map_bytes_per_client: round(mapBytesPerClient, 1),
    target_events_per_s: TARGETS.events_per_s,
    target_bytes_per_client: TARGETS.bytes_per_client,
    meets,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`scorer bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
