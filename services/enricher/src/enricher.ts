/**
 * The enricher: RequestEvent in, EnrichedRequest (the same event plus its geolocation)
 * out, keyed by IP so one IP's events stay in order. The output of a batch is produced
 * before the batch's offsets are committed, so nothing accepted is lost (a crash repeats
 * work; the sink's deduplication absorbs the repeat). Undecodable events go to the DLQ.
 */
import avro from 'avsc';
import type { EventLog, LogBatch, LogConsumer, OutgoingMessage } from '@ipwatch/core/eventLog';
import { applyStep, decodeStep, type StepResult } from '@ipwatch/core/pipelineStep';
import { codecs, DecodeError, SCHEMA_HEADER, type Geo, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { canonicalIp } from '@ipwatch/core/ip';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';

export const ENRICHER_GROUP = 'ipwatch-enricher';

const LONG = avro.Type.forSchema('long');
const ENRICHED_HEADERS = Object.freeze({ [SCHEMA_HEADER]: 'EnrichedRequest' });
/** Geo answers are shared, frozen objects (one per cached IP), so their encoding can be cached by identity. */
const geoEncodings = new WeakMap<Geo, Buffer>();
function geoBytes(g: Geo): Buffer {
  let b = geoEncodings.get(g);
  if (b === undefined) {
    b = codecs.Geo.encode(g);
    if (Object.isFrozen(g)) geoEncodings.set(g, b);
  }
  return b;
}

/** What the enricher needs of a geolocation lookup (see geo/index.ts). */
export interface GeoSource {
  lookup(ip: string): Geo;
  lookupWithFallback?(ip: string): Promise<Geo>;
}

interface ValidRequest {
  value: Buffer;
  request: RequestEvent;
  /** The IP was not canonical: the event must be encoded again, not reused as it came. */
  reencode: boolean;
}

/** Decodes a request event and canonicalises its IP; bytes that cannot be an event go to the DLQ. */
function decodeRequest(value: Buffer | null): StepResult<ValidRequest> {
  return decodeStep('decode', () => {
    if (value === null) throw new DecodeError('empty value');
    const request = codecs.RequestEvent.decode(value);
    const ip = canonicalIp(request.ip);
    if (ip === null) throw new DecodeError(`ip ${JSON.stringify(request.ip.slice(0, 64))} is not an IP address`);
    const reencode = ip !== request.ip;
    request.ip = ip;
    return { value, request, reencode };
  });
}

export interface EnricherOptions {
  log: EventLog;
  geo: GeoSource;
  metrics: IpwatchMetrics;
  /** Ask online providers when the offline data has no city (off unless providers are configured). */
  online?: boolean;
  groupId?: string;
  maxBatchSize?: number;
  /** Partitions enriched at the same time; their produce round trips overlap. Default 4. */
  concurrency?: number;
  /** How long a fetch may wait to fill a batch (see ConsumeOptions.batchWaitMs). Default 0. */
  batchWaitMs?: number;
  onError?: (err: unknown) => void;
}

export interface Enricher {
  start(): Promise<LogConsumer>;
  stop(): Promise<void>;
}

/**
 * @example
 * const enricher = createEnricher({ log, geo: await createGeoLookup({ cacheSize: 100_000 }), metrics });
 * await enricher.start();
 */
export function createEnricher(options: EnricherOptions): Enricher {
  const { log, geo, metrics } = options;
  const useOnline = options.online === true && typeof geo.lookupWithFallback === 'function';
  let consumer: LogConsumer | undefined;

  async function handle(batch: LogBatch): Promise<void> {
    metrics.eventsIn.inc({ topic: batch.topic }, batch.messages.length);
    metrics.batchSize.observe({ stage: 'enrich' }, batch.messages.length);
    const done = metrics.stageSeconds.startTimer({ stage: 'enrich' });
    const out: OutgoingMessage[] = [];
    const now = Date.now();
    const enrichedAtBytes = LONG.toBuffer(now);
    const valid: ValidRequest[] = [];
    for (const m of batch.messages) {
      const v = await applyStep(decodeRequest(m.value), m, { log, metrics });
      if (v !== undefined) valid.push(v);
    }
    // Online lookups run together (the geo lookup caps how many are in flight and answers
    // offline beyond that), so one slow provider costs a batch one timeout, not one per event.
    const locations = useOnline ? await Promise.all(valid.map((v) => geo.lookupWithFallback!(v.request.ip))) : null;
    valid.forEach(({ value: input, request, reencode }, i) => {
      const location = locations ? locations[i]! : geo.lookup(request.ip);
      // An Avro record is its fields' encodings one after another, so EnrichedRequest is the
      // RequestEvent's own bytes, then Geo, then enrichedAt: reusing the validated input bytes
      // and each Geo's cached encoding skips re-encoding the whole event.
      const value = reencode
        ? codecs.EnrichedRequest.encode({ request, geo: location, enrichedAt: now })
        : Buffer.concat([input, geoBytes(location), enrichedAtBytes]);
      out.push({ key: request.ip, value, headers: ENRICHED_HEADERS });
    });
    if (out.length) {
      await log.produce(TOPICS.enriched, out);
      metrics.eventsOut.inc({ topic: TOPICS.enriched }, out.length);
    }
    done();
  }

  return {
    async start() {
      consumer = await log.consume({
        groupId: options.groupId ?? ENRICHER_GROUP,
        topics: [TOPICS.requests],
        maxBatchSize: options.maxBatchSize ?? 5000,
        concurrency: options.concurrency ?? 4,
        // No fill wait by default: measured no faster, and every event would wait for it.
        batchWaitMs: options.batchWaitMs ?? 0,
        handle,
        onError: (err) => {
          metrics.errors.inc({ kind: 'enrich' });
          options.onError?.(err);
        },
      });
      return consumer;
    },
    async stop() {
      await consumer?.stop();
    },
  };
}
