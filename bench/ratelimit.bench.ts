/**
 * What a Redis-backed rate limit costs an app: a hello-world Express app under autocannon on
 * loopback, alternating rounds without and with a limiter check in front of the route, in
 * one run, against a redis-server of the bench's own (test/support/redisServer.ts).
 *
 *   tsx bench/ratelimit.bench.ts [--duration 4] [--pairs 5] [--connections 50] [--autopipelining true] [--clients 300000|connection]
 *
 * The limit must never trip (a refusal is cheaper than the route and would flatter the
 * figure), yet every request must do the real work: one script call to Redis. By default the
 * limiter runs the default rule (anonymous 5/m) for 300,000 distinct clients taking turns,
 * as a site with many visitors under their limits sees it: each comes back every 300,000
 * requests, 2 or 3 times a minute, so its sorted set holds 2 or 3 entries. `--clients
 * connection` makes each connection one client under 10000/10s instead (thousands of entries
 * per set: Redis works harder per call). The bench checks afterwards that nothing was
 * refused and that Redis ran exactly one script call per check (INFO commandstats).
 *
 * check_p99_us is the p99 of the check as the app waits for it (performance.now() around
 * `await limiter.check()`: the Redis round trip under load included). The load generator
 * runs in a worker thread and records every response's latency as a float (autocannon's own
 * histogram keeps whole milliseconds). Pairs alternate their order (A B, B A, ...) so drift
 * falls on both sides. The last line of stdout is one JSON object; progress goes to stderr.
 *
 * Last runs (2 vCPU shared by the app, the load generator, redis-server and other jobs):
 * ratio 0.861 and 0.865 (pairs 0.82-0.89), 11.0k vs 12.7-13.1k req/s, check p50 2.1 ms and
 * p99 7.2-7.6 ms (the Redis round trip queued behind 50 connections' work), 1.000 script
 * call per check, 0 refused; `--clients connection` 0.826 (sets of ~2,000 entries: 12.7 us
 * of Redis CPU per call instead of 10.2). Where the rest goes: Redis's ~10 us per script
 * call runs on the same two cores; in the app, ioredis ~5-6 us per call and the limiter's
 * own code ~1 us (measured in-process, without HTTP), the rest is the loopback TCP work and
 * the request's second event-loop turn. `--autopipelining false`: the same ratio (0.859,
 * 0.870), check p50 1.2 ms instead of 2.1, ~5 us more app CPU per request.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { load as runLoad, listen, median, round2, type LoadResult } from './support/load.ts';
import { createRedisClient } from '@ipwatch/core/redis';
import { createRateLimiter, createRedisRateLimitStore, type RateLimiter } from '../shared/emitter/src/rateLimit/index.ts';
import { startRedisServer } from '../test/support/redisServer.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    pairs: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    autopipelining: { type: 'string', default: 'true' },
    clients: { type: 'string', default: '300000' },
  },
});
const DURATION_S = Number(args.duration);
const PAIRS = Number(args.pairs);
const CONNECTIONS = Number(args.connections);
const WARMUP_S = Number(args.warmup);
const AUTOPIPELINING = args.autopipelining !== 'false';
/** 'connection': one client per connection under a high limit; a number: that many distinct clients, in turn, under the default 5/m. */
const PER_CONNECTION = args.clients === 'connection';
const CLIENTS = PER_CONNECTION ? 0 : Number(args.clients);
const RULE = PER_CONNECTION ? '10000/10s' : '5/m';
if (!PER_CONNECTION && !(Number.isInteger(CLIENTS) && CLIENTS >= 1000 && CLIENTS <= 16_000_000)) throw new Error('--clients must be "connection" or a number of clients from 1000 to 16000000');

interface RoundResult extends LoadResult {
  /** CPU of this process (app and load worker) per request, µs. */
  cpuUsPerReq: number;
}

async function load(url: string, durationS: number): Promise<Omit<RoundResult, 'cpuUsPerReq'>> {
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

function helloApp(limiter?: RateLimiter, samples?: Samples): express.Express {
  const app = express();
  app.disable('x-powered-by');
  if (limiter && samples) {
    let turn = 0;
    app.use((req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
      let ip: string;
      if (PER_CONNECTION) {
        // One client per connection: an IP made from its source port.
        const port = req.socket.remotePort ?? 0;
        ip = `10.1.${port >> 8}.${port & 255}`;
      } else {
        // CLIENTS clients in turn: each comes back every CLIENTS requests (300,000 at ~12k req/s: every 25 s, 2-3 per minute).
        const i = turn;
        turn = turn + 1 === CLIENTS ? 0 : turn + 1;
        ip = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
      }
      const who = { ip, userId: null, authenticated: false };
      const t0 = performance.now();
      limiter.check(req, who).then((decision) => {
        samples.add((performance.now() - t0) * 1000);
        if (!limiter.respond(res, decision)) next();
      }, next);
    });
  }
  app.get('/', (_req, res) => {
    res.send('hello world');
  });
  return app;
}

const quantile = (sorted: Float64Array, q: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN);
const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Script calls Redis ran, and the server CPU they took (µs). */
async function scriptCalls(url: string): Promise<{ calls: number; usec: number }> {
  const redis = createRedisClient(url, { name: 'ipwatch-bench-stats', commandTimeoutMs: 5000 });
  await once(redis, 'ready');
  const info = await redis.info('commandstats');
  redis.disconnect();
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec };
}

async function main(): Promise<void> {
  const redisServer = await startRedisServer();
  const ruleText = PER_CONNECTION ? `anonymous ${RULE}, one client per connection` : `anonymous ${RULE} (the default), ${CLIENTS} clients in turn`;
  say(`redis-server of the bench's own at ${redisServer.url}; rule ${ruleText}; autopipelining ${AUTOPIPELINING}`);
  const store = createRedisRateLimitStore({ redis: redisServer.url, autoPipelining: AUTOPIPELINING });
  await store.ready();
  const limiter = createRateLimiter({ store, rules: { anonymous: RULE, authenticated: false, login: false } });
  const samples = new Samples();

  const plain = await listen(helloApp());
  const withLimiter = await listen(helloApp(limiter, samples));
  say(`warm-up ${WARMUP_S} s each`);
  await load(plain.url, WARMUP_S);
  await load(withLimiter.url, WARMUP_S);
  samples.take();
  const callsBefore = await scriptCalls(redisServer.url);
  const checksBefore = limiter.stats().checks;

  const pairs: Array<{ without: RoundResult; with: RoundResult; checkP50Us: number; checkP99Us: number }> = [];
  for (let i = 0; i < PAIRS; i++) {
    const order = i % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
    const pair = {} as { without: RoundResult; with: RoundResult; checkP50Us: number; checkP99Us: number };
    for (const side of order) {
      await sleep(500); // let GC settle between rounds
      const cpu0 = process.cpuUsage();
      const round = await load(side === 'with' ? withLimiter.url : plain.url, DURATION_S);
      const cpu = process.cpuUsage(cpu0);
      // The load worker is a thread of this process: its CPU is in cpuUsage too, so this is app + load generator.
      pair[side] = { ...round, cpuUsPerReq: (cpu.user + cpu.system) / Math.max(1, round.requests) };
      let extra = '';
      if (side === 'with') {
        const s = samples.take();
        pair.checkP50Us = quantile(s, 0.5);
        pair.checkP99Us = quantile(s, 0.99);
        extra = `  check p50 ${pair.checkP50Us.toFixed(0)} us  p99 ${pair.checkP99Us.toFixed(0)} us`;
      }
      say(`pair ${i + 1} ${side.padEnd(7)} ${pair[side].rps.toFixed(0).padStart(7)} req/s  p50 ${pair[side].p50Ms.toFixed(3)} ms  p99 ${pair[side].p99Ms.toFixed(3)} ms  errors ${pair[side].errors} non-2xx ${pair[side].non2xx}${extra}`);
    }
    pairs.push(pair);
  }

  const checks = limiter.stats().checks - checksBefore;
  const after = await scriptCalls(redisServer.url);
  const calls = after.calls - callsBefore.calls;
  const redisUsPerCall = calls ? (after.usec - callsBefore.usec) / calls : NaN;
  const stats = limiter.stats();
  plain.server.closeAllConnections();
  withLimiter.server.closeAllConnections();
  plain.server.close();
  withLimiter.server.close();
  await limiter.close();
  await store.close();
  await redisServer.close();

  const ratios = pairs.map((p) => p.with.rps / p.without.rps);
  const result = {
    bench: 'ratelimit',
    store: 'redis',
    rule: ruleText,
    autopipelining: AUTOPIPELINING,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    pairs: PAIRS,
    throughput_ratio: Math.round(median(ratios) * 1000) / 1000,
    check_p99_us: Math.round(median(pairs.map((p) => p.checkP99Us))),
    check_p50_us: Math.round(median(pairs.map((p) => p.checkP50Us))),
    without_rps: Math.round(median(pairs.map((p) => p.without.rps))),
    with_rps: Math.round(median(pairs.map((p) => p.with.rps))),
    without_p99_ms: round2(median(pairs.map((p) => p.without.p99Ms))),
    with_p99_ms: round2(median(pairs.map((p) => p.with.p99Ms))),
    ratios: ratios.map((r) => Math.round(r * 1000) / 1000),
    script_calls_per_check: checks ? Math.round((calls / checks) * 1000) / 1000 : null,
    redis_us_per_call: round2(redisUsPerCall),
    app_cpu_us_per_request: { without: round2(median(pairs.map((p) => p.without.cpuUsPerReq))), with: round2(median(pairs.map((p) => p.with.cpuUsPerReq))) },
    limited: stats.limited,
    store_errors: stats.store.storeErrors,
    fallback_checks: stats.store.fallbackChecks,
    load_errors: pairs.reduce((n, p) => n + p.with.errors + p.without.errors + p.with.non2xx + p.without.non2xx, 0),
  };
  say(
    `throughput ratio ${result.throughput_ratio} (target >= 0.85): ${result.with_rps} vs ${result.without_rps} req/s; ` +
      `check p50 ${result.check_p50_us} us, p99 ${result.check_p99_us} us; ${result.script_calls_per_check} script calls per check, ${result.redis_us_per_call} us of Redis CPU each; ` +
      `CPU per request (app + load generator) ${result.app_cpu_us_per_request.without} -> ${result.app_cpu_us_per_request.with} us; ` +
      `${result.limited} limited, ${result.store_errors} store errors`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`ratelimit bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
