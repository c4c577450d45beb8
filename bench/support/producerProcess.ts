/**
 * The apps' side of bench:pipeline, as a process of its own: encodes N RequestEvents from
 * the access log up front, then on 'go' produces them to Kafka as fast as the broker takes
 * them, and answers { ms } when the last is acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { codecs } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { accessLogEvents } from './accessLog.ts';

const n = Number(process.argv[2]);
const log = createKafkaEventLog({ brokers: loadConfig().kafka!.brokers, clientId: 'bench-producer', logLevel: 'error' });
const sample = accessLogEvents();
const now = Date.now();
const messages = Array.from({ length: n }, (_, i) => {
  const e = { ...sample[i % sample.length]!, id: randomUUID(), ts: now - (n - i) };
  return { key: e.ip, value: codecs.RequestEvent.encode(e) };
});
await log.produce(TOPICS.requests, []); // connects
process.send?.('ready');
process.on('message', async (msg) => {
  if (msg === 'cpu') return void process.send?.(process.cpuUsage());
  if (msg !== 'go') return;
  const t = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < n; i += 5000) {
    inFlight.push(log.produce(TOPICS.requests, messages.slice(i, i + 5000)));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  process.send?.({ ms: performance.now() - t });
});
process.on('SIGTERM', () => void log.close().finally(() => process.exit(0)));
