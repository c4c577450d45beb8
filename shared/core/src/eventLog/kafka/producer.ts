/**
 * The producing side of the Kafka event log: an idempotent producer with Kafka's own key
 * partitioning, and produce calls cut into requests the broker accepts.
 *
 * @example
 * const producer = await connectProducer(kafka, true);
 * await sendInRequests(producer, 'ipwatch.requests.v1', messages, CompressionTypes.None);
 */
import { Partitioners, type CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { OutgoingMessage } from '../../eventLog.ts';

/** Upper bound on the bytes of one produce request (the broker's default limit is 1 MiB a batch). */
const MAX_REQUEST_BYTES = 768 * 1024;

function approxSize(m: OutgoingMessage): number {
  let n = 32 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  if (m.headers) for (const k in m.headers) n += k.length + (m.headers[k]?.length ?? 0) + 8;
  return n;
}

/** A connected producer; with `idempotent`, acks -1 and one request in flight per broker. */
export async function connectProducer(kafka: Kafka, idempotent: boolean): Promise<Producer> {
  const producer = kafka.producer({
    idempotent,
    maxInFlightRequests: idempotent ? 1 : undefined,
    allowAutoTopicCreation: true,
    // Java-compatible murmur2: the same key lands on the same partition as from any other Kafka client.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

/** Sends one produce call's messages, in order, in as many requests as their size needs. */
export async function sendInRequests(producer: Producer, topic: string, messages: OutgoingMessage[], compression: CompressionTypes): Promise<void> {
  // kafkajs sends all of a call's messages for one partition as one record batch, and the
  // broker refuses a batch over message.max.bytes (1 MiB by default): cut big calls into
  // requests of at most MAX_REQUEST_BYTES, sent one after another to keep per-key order.
  let start = 0;
  while (start < messages.length) {
    let bytes = 0;
    let end = start;
    while (end < messages.length && (end === start || bytes < MAX_REQUEST_BYTES)) {
      bytes += approxSize(messages[end]!);
      end++;
    }
    await producer.send({
      topic,
      acks: -1,
      compression,
      messages: messages.slice(start, end).map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
    });
    start = end;
  }
}
