/**
 * bench:blocklist — the block mirror at a million entries: how long a fresh app instance
 * takes to load them from a real Redis, how much heap its tables take, and what one
 * "is this client blocked?" costs on the request path.
 *
 *   npm run bench:blocklist -- [--entries 1000000] [--batches 500]
 *
 * The list: 60% IPv4 addresses, 15% IPv4 CIDRs (/12 to /31, mostly /17-/24 like real block
 * lists), 15% IPv6 addresses, 10% IPv6 CIDRs /32-/64; a fifth expire in the future, 2%
 * have already expired (the mirror drops those at load). It is written to a redis-server of
 * the bench's own (test/support/redisServer.ts) with createRedisSharedLists().replace, as
 * blocksync would, plus a 1,000-entry allowlist.
 *
 * - full_sync_ms: createBlockMirror() until `ready` (subscribe, HSCAN both lists, build);
 *   scan_only_ms is the same HSCAN with nothing built, for comparison.
 * - heap_mb: heapUsed after gc with the mirror loaded, minus before; typed arrays (outside
 *   the heap) are reported apart as array_buffers_mb and count towards the target too.
 * - lookup_ns: mirror.check(ip) over a shuffled mix of 100,000 addresses (a quarter each of
 *   v4 hits, random v4, v6 hits, random v6), timed in batches of 1,000; the median (and
 *   p99) of the per-batch averages. Also over 25,000 of them, and per kind.
 * Baselines in the same run: a plain Map.get on the exact address (the floor: no CIDRs, no
 * expiry) and a naive matcher (parseIp + BigInt cidrContains over every entry) on 1,000
 * entries.
 *
 * The last line of stdout is one JSON object with the figures and the targets.
 *
 * Last runs (2 vCPU shared with other jobs, node 20): lookup_ns 425-470 (290 over 25k
 * addresses; by kind 215-435), p99 590-670 (to ~2,200 when a neighbour is busy);
 * heap_mb 52 + 57 in typed arrays; full_sync_ms 2,700-3,300 of which ~1,700-1,850 is the
 * HSCAN itself; baselines: Map.get 160-215 ns, naive BigInt scan of 1,000 entries ~46,000 ns.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import { cidrContains, formatCidr, formatIp, parseCidr, parseIp, type ParsedCidr } from '@ipwatch/core/ip';
import type { ListEntry } from '@ipwatch/core/sharedLists';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import { createBlockMirror } from '../shared/emitter/src/blockMirror/blockMirror.ts';
import { startRedisServer } from '../test/support/redisServer.ts';

const { values: args } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    batches: { type: 'string', default: '500' },
  },
});
const ENTRIES = Number(args.entries);
const BATCHES = Number(args.batches);
const BATCH = 1000;
const TARGETS = { lookup_ns: 2000, heap_mb: 300, full_sync_ms: 5000 };

// A gc() of our own without restarting node with --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const settle = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const arrayBuffers = (): number => process.memoryUsage().arrayBuffers;

/** mulberry32: a fast seeded PRNG with good low bits (an LCG's would correlate consecutive words). */
let seed = 0x1badf00d;
function rand32(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) >>> 0;
}
const randInt = (n: number): number => rand32() % n;

const v4Text = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const v4Mask = (len: number): number => (len === 0 ? 0 : (-1 << (32 - len)) >>> 0);
/** A random global-unicast IPv6 (2000::/3) as a bigint. */
const v6Random = (): bigint => (0x2000n | BigInt(rand32() & 0x1fff)) << 112n | (BigInt(rand32() & 0xffff) << 96n) | (BigInt(rand32()) << 64n) | (BigInt(rand32()) << 32n) | BigInt(rand32());
const v6Mask = (len: number): bigint => (len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len));
const V6_ALL = (1n << 128n) - 1n;

/** IPv4 CIDR lengths, weighted like published block lists: mostly /17-/24, few wide ones. */
function v4CidrLength(): number {
  const r = randInt(1000);
  if (r < 1) return 12 + randInt(4);
  if (r < 11) return 16;
  if (r < 300) return 17 + randInt(7);
  if (r < 800) return 24;
  return 25 + randInt(7);
}

const record = (i: number, kind: string): string =>
  JSON.stringify({ id: `bench-${i}`, source: 'scorer', rule: kind, reason: 'request rate above 600/min', decidedAt: 1_750_000_000_000 + i });

interface Samples {
  /** Addresses that the list blocks (a host entry, or inside a CIDR). */
  v4Hits: string[];
  v6Hits: string[];
  /** The first entries, for the naive baseline. */
  first: ListEntry[];
}

/**
 * The list, made as it is written: the bench keeps only samples, so that the heap the
 * mirror loads into holds nothing else large (a million retained entries would make every
 * major GC during the load slower than in a real app).
 */
function* generate(n: number, now: number, samples: Samples): Generator<ListEntry> {
  const { v4Hits, v6Hits } = samples;
  const expiry = (): number | null => {
    const r = randInt(100);
    if (r < 20) return now + 3_600_000 + randInt(30 * 86_400_000);
    if (r < 22) return now - 1 - randInt(86_400_000);
    return null;
  };
  for (let i = 0; i < n; i++) {
    let made: ListEntry;
    const r = i % 20; // 12/20 v4 hosts, 3/20 v4 CIDRs, 3/20 v6 hosts, 2/20 v6 CIDRs
    const expiresAt = expiry();
    const live = expiresAt === null || expiresAt > now + 600_000;
    if (r < 12) {
      const target = v4Text(rand32());
      made = { target, expiresAt, record: record(i, 'v4') };
      if (live && v4Hits.length < 50_000) v4Hits.push(target);
    } else if (r < 15) {
      const len = v4CidrLength();
      const network = (rand32() & v4Mask(len)) >>> 0;
      made = { target: `${v4Text(network)}/${len}`, expiresAt, record: record(i, 'v4-cidr') };
      if (live && v4Hits.length < 50_000) v4Hits.push(v4Text((network | (rand32() & ~v4Mask(len))) >>> 0));
    } else if (r < 18) {
      const target = formatIp({ version: 6, value: v6Random() });
      made = { target, expiresAt, record: record(i, 'v6') };
      if (live && v6Hits.length < 50_000) v6Hits.push(target);
    } else {
      const len = 32 + randInt(33);
      const value = v6Random();
      const cidr: ParsedCidr = { version: 6, network: value & v6Mask(len), prefix: len };
      made = { target: formatCidr(cidr), expiresAt, record: record(i, 'v6-cidr') };
      if (live && v6Hits.length < 50_000) v6Hits.push(formatIp({ version: 6, value: cidr.network | (v6Random() & (V6_ALL ^ v6Mask(len))) }));
    }
    if (samples.first.length < 1000) samples.first.push(made);
    yield made;
  }
}

/** Copies strings into flat ones, as the emitter's client-IP resolver hands them over (not ropes from concatenation). */
const flat = (xs: string[]): string[] => JSON.parse(JSON.stringify(xs)) as string[];

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randInt(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

interface Timing {
  medianNs: number;
  p99Ns: number;
}

/** Runs `fn` over `probes` in batches of BATCH, `batches` times; the median and p99 of per-batch ns per call. */
function timeBatches(probes: string[], batches: number, fn: (ip: string) => unknown): Timing {
  let sink = 0;
  for (let r = 0; r < 3; r++) for (const ip of probes) if (fn(ip)) sink++; // warm-up: JIT, caches
  const perCall: number[] = [];
  let at = 0;
  for (let b = 0; b < batches; b++) {
    if (at + BATCH > probes.length) at = 0;
    const t0 = process.hrtime.bigint();
    for (let i = at; i < at + BATCH; i++) if (fn(probes[i]!)) sink++;
    perCall.push(Number(process.hrtime.bigint() - t0) / BATCH);
    at += BATCH;
  }
  perCall.sort((a, b) => a - b);
  if (sink === -1) console.log(sink); // keeps the results alive
  return { medianNs: perCall[Math.floor(perCall.length / 2)]!, p99Ns: perCall[Math.min(perCall.length - 1, Math.floor(perCall.length * 0.99))]! };
}

const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;
const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);

async function main(): Promise<void> {
  const now = Date.now();
  console.log(`bench:blocklist: ${ENTRIES.toLocaleString('en')} entries; node ${process.version}`);
  const samples: Samples = { v4Hits: [], v6Hits: [], first: [] };
  const { v4Hits, v6Hits } = samples;
  const allow = Array.from({ length: 1000 }, (_, i) => ({ target: v4Text(rand32()), expiresAt: null, record: record(i, 'allow') }));

  const redis = await startRedisServer();
  const writer = createRedisSharedLists(redis.url, { keyPrefix: 'bench:', name: 'bench-blocksync' });
  const reader = createRedisSharedLists(redis.url, { keyPrefix: 'bench:', name: 'bench-emitter' });
  try {
    let t = performance.now();
    await writer.replace('blocks', generate(ENTRIES, now, samples));
    await writer.replace('allow', allow);
    const fillMs = performance.now() - t;
    console.log(`generated and written to redis-server (replace) in ${round(fillMs)} ms`);

    // Probes: a quarter each of v4 hits, random v4 (mostly misses), v6 hits, random v6 (misses).
    const probeCount = 100_000;
    const probes = flat(
      shuffle(
        Array.from({ length: probeCount }, (_, i) => {
          switch (i % 4) {
            case 0: return v4Hits[randInt(v4Hits.length)]!;
            case 1: return v4Text(rand32());
            case 2: return v6Hits[randInt(v6Hits.length)]!;
            default: return formatIp({ version: 6, value: v6Random() });
          }
        }),
      ),
    );

    const heapBefore = settle();
    const buffersBefore = arrayBuffers();
    t = performance.now();
    const mirror = createBlockMirror({ lists: reader });
    await mirror.ready;
    const fullSyncMs = performance.now() - t;
    const heapBytes = settle() - heapBefore;
    const buffersBytes = arrayBuffers() - buffersBefore;
    const state = mirror.state();
    console.log(`full sync: ${round(fullSyncMs)} ms for ${state.blocks.toLocaleString('en')} blocks + ${state.allows} allowlist entries (expired ones dropped)`);
    console.log(`tables: heap ${mb(heapBytes)} MB + typed arrays ${mb(buffersBytes)} MB`);

    // Each probe's kind, from the verdict before timing.
    const kinds: Record<'v4_hit' | 'v4_miss' | 'v6_hit' | 'v6_miss', string[]> = { v4_hit: [], v4_miss: [], v6_hit: [], v6_miss: [] };
    for (const ip of probes) kinds[`${ip.includes(':') ? 'v6' : 'v4'}_${mirror.check(ip) === null ? 'miss' : 'hit'}`].push(ip);
    const hits = kinds.v4_hit.length + kinds.v6_hit.length;
    const all = timeBatches(probes, BATCHES, (ip) => mirror.check(ip));
    // The same mix over 25,000 distinct addresses: fewer cache misses on the probes themselves, as with real traffic's repeat visitors.
    const smallSet = timeBatches(probes.slice(0, 25_000), BATCHES, (ip) => mirror.check(ip));
    const perKind = Object.fromEntries(Object.entries(kinds).map(([k, ips]) => [k, ips.length >= BATCH ? round(timeBatches(ips, 100, (ip) => mirror.check(ip)).medianNs) : null]));
    console.log(`lookup (mirror.check): median ${round(all.medianNs)} ns, p99 ${round(all.p99Ns)} ns per lookup over ${BATCHES} batches of ${BATCH}; ${round((100 * hits) / probes.length, 1)}% of probes blocked or allowed`);
    console.log(`  over 25,000 distinct addresses instead of 100,000: median ${round(smallSet.medianNs)} ns`);
    console.log(`  by kind (median ns): ${Object.entries(perKind).map(([k, v]) => `${k} ${v}`).join(', ')}`);

    await mirror.close();

    // How much of the sync is reading Redis at all: the same scan, doing nothing with the entries.
    t = performance.now();
    await reader.scan('blocks', () => {});
    const scanOnlyMs = performance.now() - t;
    console.log(`for comparison, scanning the list without building anything: ${round(scanOnlyMs)} ms`);

    // Baselines.
    const exact = new Map<string, number>();
    await reader.scan('blocks', (batch) => {
      for (const e of batch) exact.set(e.target, e.expiresAt ?? Number.POSITIVE_INFINITY);
    });
    const mapGet = timeBatches(probes, BATCHES, (ip) => {
      const exp = exact.get(ip);
      return exp !== undefined && exp > Date.now();
    });
    exact.clear();
    const naiveTable = samples.first.map((e) => ({ cidr: parseCidr(e.target), exp: e.expiresAt ?? Number.POSITIVE_INFINITY }));
    const naive = timeBatches(probes.slice(0, 20_000), 50, (ip) => {
      const p = parseIp(ip);
      if (!p) return false;
      const at = Date.now();
      for (const e of naiveTable) if (e.exp > at && cidrContains(e.cidr, p)) return true;
      return false;
    });
    console.log(`baselines: Map.get exact address on ${ENTRIES.toLocaleString('en')} (no CIDRs) ${round(mapGet.medianNs)} ns; naive BigInt scan of 1,000 entries ${round(naive.medianNs)} ns`);

    const memoryMb = mb(heapBytes + buffersBytes);
    const result = {
      bench: 'blocklist',
      entries: ENTRIES,
      blocks_loaded: state.blocks,
      lookup_ns: round(all.medianNs),
      lookup_p99_ns: round(all.p99Ns),
      lookup_25k_set_ns: round(smallSet.medianNs),
      lookup_by_kind_ns: perKind,
      hit_ratio: round(hits / probes.length, 3),
      heap_mb: mb(heapBytes),
      array_buffers_mb: mb(buffersBytes),
      full_sync_ms: round(fullSyncMs),
      scan_only_ms: round(scanOnlyMs),
      redis_fill_ms: round(fillMs), // includes generating the entries
      baseline_map_get_ns: round(mapGet.medianNs),
      baseline_naive_1000_ns: round(naive.medianNs),
      targets: {
        lookup_ns: { target: `< ${TARGETS.lookup_ns}`, pass: all.medianNs < TARGETS.lookup_ns },
        heap_mb: { target: `< ${TARGETS.heap_mb} (heap + typed arrays)`, pass: memoryMb < TARGETS.heap_mb },
        full_sync_ms: { target: `< ${TARGETS.full_sync_ms}`, pass: fullSyncMs < TARGETS.full_sync_ms },
      },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await reader.close();
    await writer.close();
    await redis.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`blocklist bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
