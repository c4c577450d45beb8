/**
 * What the rate limiter's keys cost Redis's memory, for bench/ratelimit.bench.ts: the limiter's
 * store driven over many distinct clients on a redis-server of its own, then INFO memory's
 * growth per key and MEMORY USAGE of a sample, beside the previous design's sorted sets; and
 * the MEMORY USAGE sampler the bench also runs over the race's keys (its own and the peers').
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from '@ipwatch/core/redis';
import { createRedisRateLimitStore } from '../../shared/emitter/src/rateLimit/index.ts';
import { startRedisServer } from '../../test/support/redisServer.ts';
import { round2 } from './load.ts';

/** The memory figures of the bench's JSON line (null where not measured). */
export interface MemoryFigures {
  redis_bytes_per_key: number | null;
  memory_usage_per_key: number | null;
  memory_keys: number;
  sorted_set_bytes_100: number | null;
  sorted_set_bytes_1000: number | null;
}

const usedMemory = async (redis: Redis): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);

/** Mean MEMORY USAGE (bytes, Redis's own figure for a key and its value) of up to `sample` keys matching `pattern`. */
export async function bytesPerKey(redis: Redis, pattern: string, sample = 1000): Promise<number | null> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0' && keys.length < sample);
  if (keys.length === 0) return null;
  const sizes = await Promise.all(keys.slice(0, sample).map((k) => redis.memory('USAGE', k, 'SAMPLES', '0')));
  return sizes.reduce<number>((a, b) => a + Number(b), 0) / Math.min(sample, keys.length);
}

/**
 * Redis memory per key of the limiter at 1,000 an hour, on a redis-server of its own:
 * `clients` distinct clients, 3 requests each, through the real store (its script), then INFO
 * used_memory's growth per key (everything: the key, its value, the expiry) and MEMORY USAGE
 * of a sample (0 clients: no measure, every figure null). Beside it, the previous design's figure: a sorted set (one member
 * "<sec>.<usec>-<n>" per admitted request) of 100 and of 1,000 entries.
 */
export async function measureMemory(clients: number, say: (line: string) => void): Promise<MemoryFigures> {
  if (clients <= 0) return { redis_bytes_per_key: null, memory_usage_per_key: null, memory_keys: 0, sorted_set_bytes_100: null, sorted_set_bytes_1000: null };
  const server = await startRedisServer();
  const store = createRedisRateLimitStore({ redis: server.url, commandTimeoutMs: 10_000 });
  try {
    await store.ready();
    const redis = store.client;
    const before = await usedMemory(redis);
    const check = (i: number) => [{ key: `ipwatch:rl:anonymous:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, limit: 1000, windowMs: 3_600_000 }];
    const t0 = performance.now();
    const BATCH = 20_000;
    for (let from = 0; from < clients; from += BATCH) {
      const pending: Array<Promise<unknown>> = [];
      for (let i = from; i < Math.min(clients, from + BATCH); i++) for (let r = 0; r < 3; r++) pending.push(store.hit(check(i)));
      await Promise.all(pending);
    }
    const after = await usedMemory(redis);
    const keys = await redis.dbsize();
    const sample = await bytesPerKey(redis, 'ipwatch:rl:anonymous:*');
    say(`memory: ${keys} keys at 1000/h (3 requests each) in ${((performance.now() - t0) / 1000).toFixed(1)} s: used_memory +${((after - before) / 1e6).toFixed(1)} MB, ${((after - before) / Math.max(1, keys)).toFixed(1)} bytes per key; MEMORY USAGE ${sample?.toFixed(1)}`);
    // The previous design, for contrast: its sorted sets hold one member per admitted request.
    const zsetBytes: Record<number, number | null> = {};
    for (const entries of [100, 1000]) {
      for (let k = 0; k < 20; k++) {
        await redis.eval(
          "for i = 1, tonumber(ARGV[1]) do redis.call('ZADD', KEYS[1], 1764561234000000 + i * 3600, '1764561234.' .. (123456 + i) .. '-' .. (i - 1)) end return 1",
          1,
          `old:${entries}:ipwatch:rl:anonymous:10.0.${k}.1`,
          entries,
        );
      }
      zsetBytes[entries] = await bytesPerKey(redis, `old:${entries}:*`, 20);
    }
    return {
      redis_bytes_per_key: keys ? round2((after - before) / keys) : null,
      memory_usage_per_key: sample === null ? null : round2(sample),
      memory_keys: keys,
      sorted_set_bytes_100: zsetBytes[100] ?? null,
      sorted_set_bytes_1000: zsetBytes[1000] ?? null,
    };
  } finally {
    await store.close();
    await server.close();
  }
}
