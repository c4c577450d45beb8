/**
 * The enricher: RequestEvent in, EnrichedRequest (the same event plus its geolocation)
 * out, keyed by the client the scorer counts it as (scoringClient: an IPv4 address, an IPv6
 * /64), so one scorer instance owns each client, whole, and one IP's events stay in order
 * (its network holds it). The output of a batch is produced
 * before the batch's offsets are committed, so nothing accepted is lost (a crash repeats
 * work; the sink's deduplication absorbs the repeat). Undecodable events go to the DLQ.
 *
 * Privacy happens here too, where the country is first known: a visitor from an opted-out
 * country or region (IPWATCH_OPT_OUT_REGIONS) has its event withheld and its place cut to
 * country and region; a hash pseudonym is geolocated by the network the app sent beside it,
 * and that network is cleared, so it is never stored.
 */
import avro from 'avsc';
import type { EventLog, LogBatch, LogConsumer, OutgoingMessage } from '@ipwatch/core/eventLog';
import { applyStep, decodeStep, type StepResult } from '@ipwatch/core/pipelineStep';
import { codecs, DecodeError, SCHEMA_HEADER, type Geo, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import { canonicalIp, formatIp, parseCidr } from '@ipwatch/core/ip';
import { isWithheld, withholdPersonal } from '@ipwatch/core/privacy';
import { cachedScoringClient } from '@ipwatch/core/scoringClient';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { compileOptOutRegions, withholdPlace } from './optOutRegions.ts';

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
  /** The IP was not canonical, or a network came with it: the event must be encoded again, not reused as it came. */
  reencode: boolean;
  /** The address to geolocate: the IP, or for a hash pseudonym the network sent beside it. */
  locateAt: string;
}

/**
 * Where a request is geolocated: a hash pseudonym (2001:db8::/32, no place on the map) by the
 * network the app sent beside it, when that is a well-formed CIDR; anything else by its IP.
 */
function locateAt(request: RequestEvent): string {
  if (request.ipAnonymisation !== 'hash' || typeof request.network !== 'string') return request.ip;
  try {
    const cidr = parseCidr(request.network);
    return formatIp({ version: cidr.version, value: cidr.network });
  } catch {
    return request.ip; // not a network: the pseudonym's own (empty) place
  }
}

/** Decodes a request event and canonicalises its IP; bytes that cannot be an event go to the DLQ. */
function decodeRequest(value: Buffer | null): StepResult<ValidRequest> {
  return decodeStep('decode', () => {
    if (value === null) throw new DecodeError('empty value');
    const request = codecs.RequestEvent.decode(value);
    const ip = canonicalIp(request.ip);
    if (ip === null) throw new DecodeError(`ip ${JSON.stringify(request.ip.slice(0, 64))} is not an IP address`);
    const canonical = ip === request.ip;
    request.ip = ip;
    const at = locateAt(request);
    // The network is for geolocation only: cleared before anything is stored.
    const hadNetwork = request.network !== null && request.network !== undefined;
    request.network = null;
    return { value, request, reencode: !canonical || hadNetwork, locateAt: at };
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
  /**
   * Countries ("DE") and regions ("US/California") whose visitors' events are withheld
   * (withholdPersonal) and their place cut to country and region. Config: privacy.optOutRegions.
   */
  optOutRegions?: readonly string[];
  /**
   * IPv6 clients are keyed by their network of this prefix length: the scorer's own
   * (IPWATCH_SCORER_V6_PREFIX, config scorer.v6Prefix), so each scorer instance gets whole
   * clients. Default 64, as the scorer's.
   */
  v6Prefix?: number;
  onError?: (err: unknown) => void;
}

export interface Enricher {
  start(): Promise<LogConsumer>;
  stop(): Promise<void>;
}

/**
 * @example
 * const enricher = createEnricher({ log, geo: await createGeoLookup({ cacheSize: 100_000 }), metrics, optOutRegions: ['DE', 'US/California'] });
 * await enricher.start();
 */
export function createEnricher(options: EnricherOptions): Enricher {
  const { log, geo, metrics } = options;
  const useOnline = options.online === true && typeof geo.lookupWithFallback === 'function';
  const optOut = compileOptOutRegions(options.optOutRegions);
  const withheldTotal = metrics.counter<'by'>({
    name: 'ipwatch_enricher_withheld_total',
    help: 'Events enriched without anything personal, by who withheld them: app (the app\'s opt-out hook or Sec-GPC, before it sent the event) or region (here: an opted-out country or region). Unit: events.',
    labelNames: ['by'],
  });
  let consumer: LogConsumer | undefined;
  const scoringClientOf = cachedScoringClient(options.v6Prefix ?? 64);
  /** The event's key on the enriched topic. */
  function keyOf(request: RequestEvent): string {
    // A withheld event is keyed by its random id, as the emitter keys it: spread over the partitions, naming nobody.
    return isWithheld(request) ? request.id : scoringClientOf(request.ip, request.ipAnonymisation);
  }

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
    const locations = useOnline ? await Promise.all(valid.map((v) => geo.lookupWithFallback!(v.locateAt))) : null;
    valid.forEach(({ value: input, request, reencode, locateAt: at }, i) => {
      let location = locations ? locations[i]! : geo.lookup(at);
      if (isWithheld(request)) withheldTotal.inc({ by: 'app' });
      else if (optOut?.covers(location)) {
        withholdPersonal(request);
        location = withholdPlace(location);
        reencode = true;
        withheldTotal.inc({ by: 'region' });
      }
      // An Avro record is its fields' encodings one after another, so EnrichedRequest is the
      // RequestEvent's own bytes, then Geo, then enrichedAt: reusing the validated input bytes
      // and each Geo's cached encoding skips re-encoding the whole event.
      const value = reencode
        ? codecs.EnrichedRequest.encode({ request, geo: location, enrichedAt: now })
        : Buffer.concat([input, geoBytes(location), enrichedAtBytes]);
      out.push({ key: keyOf(request), value, headers: ENRICHED_HEADERS });
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
