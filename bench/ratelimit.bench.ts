/**
 * What a Redis-backed rate limit costs an app, and what it costs Redis's memory, against the
 * limiters a user would pick instead. A hello-world Express app under autocannon on loopback,
 * in rounds without a limiter, with ipwatch's, with express-rate-limit (rate-limit-redis's
 * RedisStore over an ioredis client) and with rate-limiter-flexible (RateLimiterRedis over
 * ioredis), all in one run, on one redis-server of the bench's own
 * (test/support/redisServer.ts), under the same rule and load.
 *
 *   tsx bench/ratelimit.bench.ts [--duration 4] [--pairs 5] [--connections 50] [--autopipelining true] [--batching true] [--clients 300000|connection] [--memory-keys 1000000]
 *
 * The limit must never trip (a refusal is cheaper than the route and would flatter the
 * figure), yet every request must do the real work: its check in a script call to Redis (the
 * checks of one event-loop turn share one call unless `--batching false`). By default each
 * limiter runs the default rule (anonymous 5/m) for 300,000 distinct clients taking turns,
 * as a site with many visitors under their limits sees it: each comes back every 300,000
 * requests, 2 or 3 times a minute. `--clients connection` makes each connection one client
 * under 10000/10s instead. The bench checks afterwards that nothing was refused and that
 * Redis ran at most one script call per ipwatch check (INFO commandstats, over ipwatch's
 * rounds only: the peers run scripts too; `checks_per_script_call` is the batching). The peers count in fixed windows (a counter per
 * window: cheaper, but twice the limit gets through across a window's edge); ipwatch's
 * sliding window never lets more than the limit through in any window.
 *
 * Memory first, on a redis-server of its own (support/redisMemory.ts): `--memory-keys`
 * distinct clients (1,000,000) at 1,000 an hour, 3 requests each, through the real store (its
 * script), then INFO memory's used_memory growth per key (`redis_bytes_per_key`: the key, its
 * value, the expiry, Redis's tables) and MEMORY USAGE of a sample; beside it the previous
 * design's figure, a sorted set with one member per admitted request, at 100 and 1,000
 * entries. The peers' MEMORY USAGE per key is sampled after the race
 * (`redis_bytes_per_key_in_race`).
 *
 * check_p99_us is the p99 of ipwatch's check as the app waits for it (performance.now()
 * around `await limiter.check()`: the Redis round trip under load included). The load
 * generator runs in a worker thread and records every response's latency as a float
 * (autocannon's own histogram keeps whole milliseconds). Each round runs every side once,
 * its order turned by one each round, so drift falls on all sides; a side's ratio is its
 * req/s over the same round's no-limiter req/s, and the median over the rounds is reported.
 * The last line of stdout is one JSON object; progress goes to stderr.
 *
 * Last runs (2 vCPU shared by the app, the load generator, redis-server and other helpers'
 * benches; six runs of the default, 1 Dec 2026): `throughput_ratio` 1.015-1.13 (rounds
 * 0.78-1.43), no-limiter side 4,300-8,400 req/s as the machine's load moved; peers in the
 * same runs: express-rate-limit 0.83-0.95, rate-limiter-flexible 0.92-1.15.
 * `redis_bytes_per_key` 176.6 (used_memory over 1,000,000 keys at 1000/h; MEMORY USAGE 119.7
 * a key; the previous sorted set: 3,672 bytes at 100 entries, ~118,400 at 1,000); in the race
 * the peers' fixed-window counters take 67-69 (express-rate-limit) and 72
 * (rate-limiter-flexible) against ipwatch's 119.5 (MEMORY USAGE). 24-30 checks per script
 * call, ~10 us of Redis time per check; check p50 2.4-4.6 ms, p99 8-20 ms under that load.
 * A ratio over 1 is not a free limiter: waiting on Redis bunches the app's responses, so
 * autocannon's next requests arrive together and every side does fewer wake-ups per request
 * (CPU per request of the app, the load generator and Redis together, busy runs: 207-237 us
 * with ipwatch, 213-257 without). Measured the same way on the same day: without batching
 * (`--batching false`) 1.001, and the previous design (a sorted set, one call per check)
 * 1.081, so on this loopback bench the ratio no longer tells designs apart; Redis time per
 * check does (batched ~10 us, one call per check 14.1, the previous design 14.2), and so
 * does the app's CPU per check measured in-process without HTTP (one call per check ~7-9 us
 * of ioredis, ~3.5 batched).
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { load as runLoad, listen, median, round2, type LoadResult } from './support/load.ts';
import { createRedisClient, type Redis } from '@ipwatch/core/redis';
import { createRateLimiter, createRedisRateLimitStore, type RateLimiter } from '../shared/emitter/src/rateLimit/index.ts';
import { parseRate } from '../shared/emitter/src/rateLimit/rate.ts';
import { startRedisServer } from '../test/support/redisServer.ts';
import { bytesPerKey, measureMemory } from './support/redisMemory.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    pairs: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    autopipelining: { type: 'string', default: 'true' },
    batching: { type: 'string', default: 'true' },
    clients: { type: 'string', default: '300000' },
    'memory-keys': { type: 'string', default: '1000000' },
  },
});
const DURATION_S = Number(args.duration);
const PAIRS = Number(args.pairs);
const CONNECTIONS = Number(args.connections);
const WARMUP_S = Number(args.warmup);
const AUTOPIPELINING = args.autopipelining !== 'false';
/** The store sends the checks of one event-loop turn in one script call (its default); false: one call per check. */
const BATCHING = args.batching !== 'false';
/** 'connection': one client per connection under a high limit; a number: that many distinct clients, in turn, under the default 5/m. */
const PER_CONNECTION = args.clients === 'connection';
const CLIENTS = PER_CONNECTION ? 0 : Number(args.clients);
const RULE = PER_CONNECTION ? '10000/10s' : '5/m';
const MEMORY_KEYS = Number(args['memory-keys']);
if (!PER_CONNECTION && !(Number.isInteger(CLIENTS) && CLIENTS >= 1000 && CLIENTS <= 16_000_000)) throw new Error('--clients must be "connection" or a number of clients from 1000 to 16000000');
if (!(Number.isInteger(MEMORY_KEYS) && MEMORY_KEYS >= 0)) throw new Error('--memory-keys must be a whole number (0: skip the memory measure)');

/** The sides of each round: no limiter, ipwatch's, and the peers, each its own app on the same Redis under the same rule. */
const SIDES = ['without', 'ipwatch', 'express-rate-limit', 'rate-limiter-flexible'] as const;
type Side = (typeof SIDES)[number];
const PEERS = ['express-rate-limit', 'rate-limiter-flexible'] as const;

interface RoundResult extends LoadResult {
  /** CPU of this process (app and load worker) per request, µs. */
  cpuUsPerReq: number;
  /** The same plus redis-server's CPU (INFO cpu), per request, µs: what the side costs the machine, whatever the throughput. */
  totalCpuUsPerReq: number;
}

async function load(url: string, durationS: number): Promise<LoadResult> {
  return runLoad(url, CONNECTIONS, durationS);
}

/** Check latencies of the current round, in µs. */
class Samples {
  private data = new Float64Array(1 << 21);
  private n = 0;
  add(us: number): void {
    if (this.n < this.data.length) this.data[this.n++] = us;
  }
  take(): Float64Array {
    const out = this.data.slice(0, this.n).sort();
    this.n = 0;
    return out;
  }
}

/** The client a request stands for: one per connection, or CLIENTS in turn (each comes back every CLIENTS requests: 300,000 at ~12k req/s is every 25 s, 2-3 per minute). */
function clientOf(): (req: IncomingMessage) => string {
  let turn = 0;
  return (req) => {
    if (PER_CONNECTION) {
      const port = req.socket.remotePort ?? 0;
      return `10.1.${port >> 8}.${port & 255}`;
    }
    const i = turn;
    turn = turn + 1 === CLIENTS ? 0 : turn + 1;
    return `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
  };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

function helloApp(limit?: Middleware): express.Express {
  const app = express();
  app.disable('x-powered-by');
  if (limit) app.use(limit);
  app.get('/', (_req, res) => {
    res.send('hello world');
  });
  return app;
}

/** ipwatch's limiter in front of the route, its check timed as the app waits for it. */
function ipwatchMiddleware(limiter: RateLimiter, samples: Samples): Middleware {
  const client = clientOf();
  return (req, res, next) => {
    const who = { ip: client(req), userId: null, authenticated: false };
    const t0 = performance.now();
    limiter.check(req, who).then((decision) => {
      samples.add((performance.now() - t0) * 1000);
      if (!limiter.respond(res, decision)) next();
    }, next);
  };
}

/** express-rate-limit with rate-limit-redis (its RedisStore over an ioredis client's call), keyed by the same clients. */
function expressRateLimitMiddleware(redis: Redis, limit: number, windowMs: number): Middleware {
  const client = clientOf();
  const handler = rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => client(req),
    validate: false,
    store: new RedisStore({ prefix: 'erl:', sendCommand: (command: string, ...rest: string[]) => redis.call(command, ...rest) as Promise<RedisReply> }),
  });
  return handler as unknown as Middleware;
}

/** rate-limiter-flexible's RateLimiterRedis (ioredis), as its README wires it into Express. */
function rateLimiterFlexibleMiddleware(redis: Redis, limit: number, windowMs: number, refused: { n: number }): Middleware {
  const client = clientOf();
  const limiter = new RateLimiterRedis({ storeClient: redis, points: limit, duration: Math.round(windowMs / 1000), keyPrefix: 'rlflx' });
  return (req, res, next) => {
    limiter.consume(client(req)).then(
      () => next(),
      (rej: unknown) => {
        if (!(rej instanceof RateLimiterRes)) return next(rej);
        refused.n++;
        res.statusCode = 429;
        res.end('Too Many Requests');
      },
    );
  };
}

const quantile = (sorted: Float64Array, q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN);
const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Script calls Redis ran, and the server CPU they took (µs). */
async function scriptCalls(redis: Redis): Promise<{ calls: number; usec: number }> {
  const info = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec };
}

/** CPU redis-server has used since start, µs (INFO cpu: user + system). */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return (Number(/^used_cpu_user:([\d.]+)/m.exec(info)![1]) + Number(/^used_cpu_sys:([\d.]+)/m.exec(info)![1])) * 1e6;
}

async function main(): Promise<void> {
  const memory = await measureMemory(MEMORY_KEYS, say);

  const redisServer = await startRedisServer();
  const ruleText = PER_CONNECTION ? `anonymous ${RULE}, one client per connection` : `anonymous ${RULE} (the default), ${CLIENTS} clients in turn`;
  say(`redis-server of the bench's own at ${redisServer.url}; rule ${ruleText}; autopipelining ${AUTOPIPELINING}; batching ${BATCHING}; peers on the same Redis, rule and load`);
  const rate = parseRate(RULE);
  const store = createRedisRateLimitStore({ redis: redisServer.url, autoPipelining: AUTOPIPELINING, batching: BATCHING });
  await store.ready();
  const limiter = createRateLimiter({ store, rules: { anonymous: RULE, authenticated: false, login: false } });
  const samples = new Samples();
  // Each peer its own client, made as ipwatch's is (same deadline and pipelining).
  const peerClient = (name: string): Redis => createRedisClient(redisServer.url, { name, commandTimeoutMs: 1000, autoPipelining: AUTOPIPELINING });
  const erlRedis = peerClient('bench-express-rate-limit');
  const rlfRedis = peerClient('bench-rate-limiter-flexible');
  const stats = createRedisClient(redisServer.url, { name: 'ipwatch-bench-stats', commandTimeoutMs: 10_000 });
  await Promise.all([once(erlRedis, 'ready'), once(rlfRedis, 'ready'), once(stats, 'ready')]);
  const rlfRefused = { n: 0 };

  const apps: Record<Side, { server: import('node:http').Server; url: string }> = {
    without: await listen(helloApp()),
    ipwatch: await listen(helloApp(ipwatchMiddleware(limiter, samples))),
    'express-rate-limit': await listen(helloApp(expressRateLimitMiddleware(erlRedis, rate.limit, rate.windowMs))),
    'rate-limiter-flexible': await listen(helloApp(rateLimiterFlexibleMiddleware(rlfRedis, rate.limit, rate.windowMs, rlfRefused))),
  };
  say(`warm-up ${WARMUP_S} s each`);
  for (const side of SIDES) await load(apps[side].url, WARMUP_S);
  samples.take();
  let calls = 0;
  let callUsec = 0;
  let checks = 0;

  type Round = Record<Side, RoundResult> & { checkP50Us: number; checkP99Us: number };
  const rounds: Round[] = [];
  for (let i = 0; i < PAIRS; i++) {
    // Each round runs every side once, the order turned by one each round, so drift falls on all sides.
    const order = SIDES.map((_, k) => SIDES[(k + i) % SIDES.length]!);
    const round = {} as Round;
    for (const side of order) {
      await sleep(500); // let GC settle between rounds
      const before = side === 'ipwatch' ? { ...(await scriptCalls(stats)), checks: limiter.stats().checks } : null;
      const redisCpu0 = await redisCpuUs(stats);
      const cpu0 = process.cpuUsage();
      const result = await load(apps[side].url, DURATION_S);
      const cpu = process.cpuUsage(cpu0);
      const redisCpu = (await redisCpuUs(stats)) - redisCpu0;
      if (before !== null) {
        // Only ipwatch's rounds (the peers run scripts too), once the last checks have answered.
        await sleep(200);
        const after = await scriptCalls(stats);
        calls += after.calls - before.calls;
        callUsec += after.usec - before.usec;
        checks += limiter.stats().checks - before.checks;
      }
      // The load worker is a thread of this process: its CPU is in cpuUsage too, so this is app + load generator.
      round[side] = { ...result, cpuUsPerReq: (cpu.user + cpu.system) / Math.max(1, result.requests), totalCpuUsPerReq: (cpu.user + cpu.system + redisCpu) / Math.max(1, result.requests) };
      let extra = '';
      if (side === 'ipwatch') {
        const s = samples.take();
        round.checkP50Us = quantile(s, 0.5);
        round.checkP99Us = quantile(s, 0.99);
        extra = `  check p50 ${round.checkP50Us.toFixed(0)} us  p99 ${round.checkP99Us.toFixed(0)} us`;
      }
      const r = round[side];
      say(`round ${i + 1} ${side.padEnd(21)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  errors ${r.errors} non-2xx ${r.non2xx}${extra}`);
    }
    rounds.push(round);
  }

  const ours = await bytesPerKey(stats, 'ipwatch:rl:*');
  const peerBytes = { 'express-rate-limit': await bytesPerKey(stats, 'erl:*'), 'rate-limiter-flexible': await bytesPerKey(stats, 'rlflx*') };
  const limiterStats = limiter.stats();
  for (const side of SIDES) {
    apps[side].server.closeAllConnections();
    apps[side].server.close();
  }
  await limiter.close();
  await store.close();
  erlRedis.disconnect();
  rlfRedis.disconnect();
  stats.disconnect();
  await redisServer.close();

  const ratiosOf = (side: Side): number[] => rounds.map((r) => r[side].rps / r.without.rps);
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const ratios = ratiosOf('ipwatch');
  const result = {
    bench: 'ratelimit',
    store: 'redis',
    algorithm: 'bucketed sliding window, 10 buckets (never over the limit in any window)',
    rule: ruleText,
    autopipelining: AUTOPIPELINING,
    batching: BATCHING,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    pairs: PAIRS,
    throughput_ratio: r3(median(ratios)),
    redis_bytes_per_key: memory.redis_bytes_per_key,
    peers: Object.fromEntries(PEERS.map((p) => [p, r3(median(ratiosOf(p)))])),
    check_p99_us: Math.round(median(rounds.map((p) => p.checkP99Us))),
    check_p50_us: Math.round(median(rounds.map((p) => p.checkP50Us))),
    without_rps: Math.round(median(rounds.map((p) => p.without.rps))),
    with_rps: Math.round(median(rounds.map((p) => p.ipwatch.rps))),
    peers_rps: Object.fromEntries(PEERS.map((p) => [p, Math.round(median(rounds.map((r) => r[p].rps)))])),
    without_p99_ms: round2(median(rounds.map((p) => p.without.p99Ms))),
    with_p99_ms: round2(median(rounds.map((p) => p.ipwatch.p99Ms))),
    ratios: ratios.map(r3),
    peers_ratios: Object.fromEntries(PEERS.map((p) => [p, ratiosOf(p).map(r3)])),
    memory: {
      keys: memory.memory_keys,
      rule: '1000/h, 3 requests per key',
      used_memory_bytes_per_key: memory.redis_bytes_per_key,
      memory_usage_bytes_per_key: memory.memory_usage_per_key,
      previous_design_sorted_set_bytes: { entries_100: memory.sorted_set_bytes_100, entries_1000: memory.sorted_set_bytes_1000 },
    },
    redis_bytes_per_key_in_race: { ipwatch: ours === null ? null : round2(ours), ...Object.fromEntries(PEERS.map((p) => [p, peerBytes[p] === null ? null : round2(peerBytes[p]!)])) },
    script_calls_per_check: checks ? Math.round((calls / checks) * 1000) / 1000 : null,
    checks_per_script_call: calls ? round2(checks / calls) : null,
    redis_us_per_call: round2(calls ? callUsec / calls : NaN),
    app_cpu_us_per_request: Object.fromEntries(SIDES.map((s) => [s === 'ipwatch' ? 'with' : s, round2(median(rounds.map((p) => p[s].cpuUsPerReq)))])),
    // What each side costs the machine per request (app, load generator and redis-server), whatever its throughput;
    // the added cost of a limiter is its figure less the no-limiter one.
    cpu_us_per_request_with_redis: Object.fromEntries(SIDES.map((s) => [s === 'ipwatch' ? 'with' : s, round2(median(rounds.map((p) => p[s].totalCpuUsPerReq)))])),
    limited: limiterStats.limited,
    peers_limited: rounds.reduce((n, r) => n + r['express-rate-limit'].non2xx, 0) + rlfRefused.n,
    store_errors: limiterStats.store.storeErrors,
    fallback_checks: limiterStats.store.fallbackChecks,
    load_errors: rounds.reduce((n, r) => n + SIDES.reduce((m, s) => m + r[s].errors + r[s].non2xx, 0), 0),
  };
  say(
    `throughput ratio ${result.throughput_ratio} (target >= 0.90): ${result.with_rps} vs ${result.without_rps} req/s; peers ${PEERS.map((p) => `${p} ${result.peers[p]}`).join(', ')}; ` +
      `Redis memory ${result.redis_bytes_per_key} bytes per key at 1000/h (target <= 256; MEMORY USAGE ${result.memory.memory_usage_bytes_per_key}; the previous sorted set: ${memory.sorted_set_bytes_100} at 100 entries, ${memory.sorted_set_bytes_1000} at 1,000); ` +
      `check p50 ${result.check_p50_us} us, p99 ${result.check_p99_us} us; ${result.checks_per_script_call} checks per script call, ${result.redis_us_per_call} us of Redis time per call; ` +
      `${result.limited} limited (peers ${result.peers_limited}), ${result.store_errors} store errors`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`ratelimit bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});