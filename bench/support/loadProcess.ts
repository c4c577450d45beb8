/**
 * The load generator in a child process of its own, for benches that measure the app's CPU
 * per request: process.cpuUsage() of the app's process then counts the app (its main
 * thread, GC helpers, libuv's pool) and not autocannon, which load.ts's worker thread would
 * add to the same process. Same recording as load.ts: every 2xx response's latency as a
 * float, so p99 has microsecond resolution.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { LoadResult } from './load.ts';

export interface ProcessLoadResult extends LoadResult {
  /** CPU (user + system, microseconds) the load generator's process used, start-up included. */
  loadCpuUs: number;
}

const LOAD_CHILD = `
const autocannon = require(process.env.BENCH_AUTOCANNON);
const { url, connections, duration } = JSON.parse(process.env.BENCH_LOAD);
const latencies = [];
const instance = autocannon({ url, connections, duration }, (err, result) => {
  if (err) { process.stdout.write(JSON.stringify({ error: String(err) })); return; }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] : NaN;
  process.stdout.write(JSON.stringify({
    rps: result['2xx'] / duration,
    p50Ms: at(0.5), p99Ms: at(0.99),
    requests: result['2xx'] + result.non2xx, errors: result.errors + result.timeouts, non2xx: result.non2xx,
    cpuUs: (({ user, system }) => user + system)(process.cpuUsage()),
  }));
});
instance.on('response', (client, statusCode, bytes, responseTime) => { if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime); });
`;

const autocannonPath = createRequire(import.meta.url).resolve('autocannon');

/** Loads `url` with `connections` for `durationS` seconds from a child process. */
export async function loadFromProcess(url: string, connections: number, durationS: number): Promise<ProcessLoadResult> {
  // No NODE_OPTIONS: the child is plain JavaScript (and a --cpu-prof there would profile it too).
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_AUTOCANNON: autocannonPath, BENCH_LOAD: JSON.stringify({ url, connections, duration: durationS }) };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['-e', LOAD_CHILD], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c ?? 1));
  });
  let msg: LoadResult & { cpuUs: number; error?: string };
  try {
    msg = JSON.parse(out) as LoadResult & { cpuUs: number; error?: string };
  } catch {
    throw new Error(`autocannon child exited ${code} without a result: ${err.trim().slice(0, 500)}`);
  }
  if (msg.error) throw new Error(`autocannon: ${msg.error}`);
  const { cpuUs, ...result } = msg;
  return { ...result, loadCpuUs: cpuUs };
}
