/**
 * Where the emitter's CPU goes per request, without HTTP: fake node requests and responses
 * (a real IncomingMessage/ServerResponse pair on an unconnected socket) run through the
 * tracker's enter() and 'finish', in three set-ups, each timed with process.cpuUsage():
 *   objects    making the request/response pair and emitting 'finish' (what the others include)
 *   emitter    + the tracker, to a log whose produce does nothing (observe, build, encode, buffer)
 *   kafka      + the tracker, producing to the real broker (kafkajs: partition, encode, send);
 *              the broker's own CPU per event beside it (its process, read from /proc)
 * and the Avro encoding alone (encodeRequestEvent of one event decoded from the stream).
 *
 *   tsx scripts/with-kafka.ts bench/support/emitterCost.ts [--events 200000] [--linger 50] [--batch 500] [--compression none|gzip] [--cpu-profile file]
 *
 * The last line of stdout is one JSON object (microseconds of CPU per event).
 */
import { writeFileSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { loadConfig } from '@ipwatch/core/config';
import type { EventLog } from '@ipwatch/core/eventLog';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { TOPICS, topicSpecs } from '@ipwatch/core/topics';
import { createTracker } from '../../shared/emitter/src/tracker.ts';
import { encodeRequestEvent } from '../../shared/emitter/src/requestEventCodec.ts';
import { codecs } from '@ipwatch/core/schemas';
import { brokerPid, processCpuUs } from './processCpu.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' }, linger: { type: 'string' }, batch: { type: 'string' }, 'cpu-profile': { type: 'string' }, compression: { type: 'string', default: 'none' } } });
const EVENTS = Number(args.events);
const cpu = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

const socket = new Socket();
function requestPair(i: number): [IncomingMessage, ServerResponse] {
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = `/products/${i % 500}?page=${i % 7}`;
  req.headers = { host: 'shop.example', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', referer: 'https://shop.example/' };
  const res = new ServerResponse(req);
  res.statusCode = 200;
  return [req, res];
}

let lastEvent: Buffer | null = null;
const broker = brokerPid();
let brokerUs: number | null = null;

async function run(label: string, log: EventLog | null): Promise<number> {
  const bufferOptions = { maxEvents: 1_000_000, ...(args.linger !== undefined && { flushIntervalMs: Number(args.linger) }), ...(args.batch !== undefined && { maxBatch: Number(args.batch) }) };
  const tracker = log ? createTracker<IncomingMessage>({ log, app: 'bench', bufferOptions }, 'bench') : null;
  const next = (): void => undefined;
  const step = 2_000; // per turn of the event loop, so the buffer's produce runs between turns as in an app
  const c0 = cpu();
  const b0 = processCpuUs(broker);
  for (let done = 0; done < EVENTS; done += step) {
    for (let i = done; i < done + step; i++) {
      const [req, res] = requestPair(i);
      if (tracker) tracker.enter(req, res, req, next);
      res.emit('finish');
    }
    await new Promise((r) => setImmediate(r));
  }
  if (tracker) await tracker.close(60_000);
  const us = (cpu() - c0) / EVENTS;
  const b1 = processCpuUs(broker);
  if (label === 'kafka' && b0 !== null && b1 !== null) brokerUs = Math.min(brokerUs ?? Infinity, (b1 - b0) / EVENTS);
  if (tracker && tracker.stats().sent !== EVENTS) throw new Error(`${label}: ${tracker.stats().sent} of ${EVENTS} sent`);
  process.stderr.write(`${label.padEnd(8)} ${us.toFixed(2)} us per event\n`);
  return us;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const nullLog = {
    produce: (_topic: string, messages: Array<{ value: Buffer }>) => {
      lastEvent = messages[messages.length - 1]!.value;
      return Promise.resolve();
    },
  } as unknown as EventLog;
  const result: Record<string, number> = {};
  // Warm-up (JIT) then measure, twice each, taking the lower.
  for (const pass of [0, 1, 2]) {
    const objects = await run('objects', null);
    const emitter = await run('emitter', nullLog);
    if (pass > 0) {
      result.objects = Math.min(result.objects ?? Infinity, objects);
      result.emitter = Math.min(result.emitter ?? Infinity, emitter);
    }
  }
  // The encoder alone, on an event as the emitter builds it.
  const event = codecs.RequestEvent.decode(lastEvent!);
  let encoderUs = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const c0 = cpu();
    for (let i = 0; i < EVENTS; i++) encodeRequestEvent(event);
    encoderUs = Math.min(encoderUs, (cpu() - c0) / EVENTS);
  }
  if (config.kafka) {
    const log = createKafkaEventLog({ brokers: config.kafka.brokers, clientId: 'ipwatch-bench-emitter-cost', compression: args.compression === 'gzip' ? 'gzip' : 'none' });
    await log.ensureTopics(topicSpecs(config.kafka.topicPartitions).filter((t) => t.name === TOPICS.requests));
    await run('kafka', log);
    result.kafka = Math.min(await run('kafka', log), await run('kafka', log));
    if (args['cpu-profile']) {
      // A CPU profile of one more kafka pass (open in Chrome's DevTools).
      const session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await run('kafka', log);
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(args['cpu-profile'], JSON.stringify(profile));
    }
    await log.close();
  }
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const out = {
    bench: 'emitter-cost',
    events: EVENTS,
    objects_us: r2(result.objects!),
    emitter_us: r2(result.emitter! - result.objects!),
    of_which_encoder_us: r2(encoderUs),
    compression: args.compression,
    buffer_options: { maxBatch: args.batch === undefined ? 'default (500)' : Number(args.batch), flushIntervalMs: args.linger === undefined ? 'default (50)' : Number(args.linger) },
    kafkajs_us: result.kafka === undefined ? null : r2(result.kafka - result.emitter!),
    broker_us: brokerUs === null ? null : r2(brokerUs),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`emitter cost bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
