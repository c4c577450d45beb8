/**
 * The load generator of the HTTP benchmarks: autocannon in a worker thread (its own event
 * loop, not the app's), recording every 2xx response's latency as a float, so p99 has
 * microsecond resolution (autocannon's own histogram keeps whole milliseconds).
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
}

const LOAD_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const autocannon = require(workerData.autocannonPath);
const latencies = [];
const instance = autocannon({ url: workerData.url, connections: workerData.connections, duration: workerData.duration }, (err, result) => {
  if (err) { parentPort.postMessage({ error: String(err) }); return; }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] : NaN;
  parentPort.postMessage({
    rps: result['2xx'] / workerData.duration,
    p50Ms: at(0.5), p99Ms: at(0.99),
    requests: result['2xx'] + result.non2xx, errors: result.errors + result.timeouts, non2xx: result.non2xx,
  });
});
instance.on('response', (client, statusCode, bytes, responseTime) => { if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime); });
`;

const autocannonPath = createRequire(import.meta.url).resolve('autocannon');

/** Loads `url` with `connections` for `durationS` seconds. */
export async function load(url: string, connections: number, durationS: number): Promise<LoadResult> {
  const worker = new Worker(LOAD_WORKER, { eval: true, workerData: { url, connections, duration: durationS, autocannonPath } });
  const [msg] = (await once(worker, 'message')) as [LoadResult & { error?: string }];
  await worker.terminate();
  if (msg.error) throw new Error(`autocannon: ${msg.error}`);
  return msg;
}

/** Starts an app (anything with Express's listen) on a free loopback port. */
export async function listen(app: { listen(port: number, host: string): Server }): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const round2 = (x: number): number => Math.round(x * 100) / 100;
