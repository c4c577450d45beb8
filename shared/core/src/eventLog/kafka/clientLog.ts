/**
 * kafkajs's own log, handed to ipwatch's: its levels by name, and one line per entry on
 * stderr unless the app gives a function of its own.
 *
 * @example
 * new Kafka({ clientId, brokers, logLevel: KAFKA_LOG_LEVELS.error, logCreator: kafkaLogCreator(console.warn) });
 */
import { logLevel as KafkaLogLevel, type LogEntry, type logCreator } from 'kafkajs';

export type KafkaLogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** One line of kafkajs's own log, handed to the `log` option. */
export interface KafkaClientLogEntry {
  level: Exclude<KafkaLogLevelName, 'nothing'>;
  /** kafkajs component, e.g. Connection, Consumer, Producer. */
  namespace: string;
  message: string;
  extra: Record<string, unknown>;
}

const LEVEL_NAMES: Record<number, Exclude<KafkaLogLevelName, 'nothing'>> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};
/** kafkajs's levels by the names the options use. */
export const KAFKA_LOG_LEVELS: Record<KafkaLogLevelName, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

function defaultLog(e: KafkaClientLogEntry): void {
  const extra = Object.keys(e.extra).length ? ` ${safeJson(e.extra)}` : '';
  process.stderr.write(`kafkajs ${e.level} [${e.namespace}] ${e.message}${extra}\n`);
}

/** A kafkajs logCreator that hands each entry to `sink` (default: one line on stderr). */
export function kafkaLogCreator(sink: (entry: KafkaClientLogEntry) => void = defaultLog): logCreator {
  return () => (entry: LogEntry) => {
    const { message, timestamp: _ts, logger: _logger, ...extra } = entry.log;
    sink({ level: LEVEL_NAMES[entry.level] ?? 'error', namespace: entry.namespace, message: String(message), extra });
  };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
