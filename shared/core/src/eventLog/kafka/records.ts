/**
 * kafkajs's messages as the event log's LogMessage: offsets as strings, keys as text,
 * headers as one string each.
 *
 * @example
 * const m = toLogMessage(batch.topic, batch.partition, kafkaMessage);
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { LogMessage } from '../../eventLog.ts';

export function toLogMessage(topic: string, partition: number, m: KafkaMessage): LogMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    timestamp: Number(m.timestamp),
    key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
    value: m.value,
    headers: headersToStrings(m.headers),
  };
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, raw] of Object.entries(headers)) {
    // A repeated header keeps its last value, as a Record can hold only one.
    const v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (v !== undefined) out[name] = typeof v === 'string' ? v : v.toString('utf8');
  }
  return out;
}
