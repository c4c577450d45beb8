/**
 * Geo lookup cost per event, over the client IPs of a real access log (2015, 10k lines).
 * Run: node --import tsx bench/geo.bench.ts [logfile]
 *
 * - cached: the LRU hit on an already-canonical IP, what the enricher pays for most events
 * - cached, non-canonical: "::ffff:a.b.c.d" spellings, which parse before the cache hit
 * - uncached: cache off, so every call parses, classifies and reads the offline data
 */
import { readFileSync } from 'node:fs';
import { createGeoLookup, type GeoLookup } from '../services/enricher/src/geo/index.ts';

const logFile = process.argv[2] ?? new URL('../../shared/data/apache-combined-2015.log', import.meta.url).pathname;
const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
const all = lines.map((l) => l.slice(0, l.indexOf(' ')));
const unique = [...new Set(all)];

function measure(name: string, geo: GeoLookup, ips: string[], minMs = 1_000): void {
  let sink = 0;
  for (let i = 0; i < 3; i++) for (const ip of ips) sink += geo.lookup(ip).asn; // warm-up, JIT
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(minMs) * 1_000_000n) {
    for (const ip of ips) sink += geo.lookup(ip).asn;
    calls += ips.length;
    elapsed = process.hrtime.bigint() - start;
  }
  const ns = Number(elapsed) / calls;
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/lookup  ${(1e9 / ns / 1e6).toFixed(2).padStart(6)} M lookups/s  (${calls} calls${sink === -1 ? '' : ''})`);
}

const t0 = performance.now();
const cached = await createGeoLookup({ cacheSize: 100_000 });
console.log(`data loaded in ${(performance.now() - t0).toFixed(0)} ms; ${all.length} log lines, ${unique.length} distinct IPs; node ${process.version}`);
measure('cached (canonical IPs)', cached, all);
measure('cached (::ffff: spellings)', cached, unique.map((ip) => `::ffff:${ip}`));
const uncached = await createGeoLookup({ cacheSize: 0 });
measure('uncached (offline data, log IPs)', uncached, unique);
// Spread over the whole IPv4 space: fewer repeated mmdb records, so maxmind's decode cache helps less.
const spread = Array.from({ length: 20_000 }, (_, i) => `${1 + ((i * 7919) % 222)}.${(i * 31) % 256}.${(i * 17) % 256}.${i % 256}`);
measure('uncached (spread IPv4)', uncached, spread);
const v6 = Array.from({ length: 5_000 }, (_, i) => `2a0${i % 10}:${(i * 131).toString(16)}::${i.toString(16)}`);
measure('uncached (IPv6)', uncached, v6);
console.log('stats (cached lookup):', JSON.stringify({ ...cached.stats(), data: undefined }));
const mem = process.memoryUsage();
console.log(`memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB, buffers ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MiB`);
cached.close();
uncached.close();
