/**
 * The check of readRange's options, shared by both adapters and made before anything is
 * read: a wrong value is a RangeError or TypeError naming the option.
 *
 * @example
 * const { sinceMs, partitions } = checkRangeOptions(options);
 */
import type { RangeReadOptions } from '../eventLog.ts';
import { nonNegative } from './numberOptions.ts';

export interface CheckedRangeOptions {
  sinceMs: number;
  /** null: every partition. */
  partitions: ReadonlySet<number> | null;
}

export function checkRangeOptions(options: RangeReadOptions): CheckedRangeOptions {
  if (typeof options.onMessage !== 'function') throw new TypeError('readRange: onMessage must be a function');
  // Kafka reads the negative times -1 and -2 as "latest" and "earliest": refuse them rather than guess.
  const sinceMs = nonNegative('readRange: sinceMs', options.sinceMs);
  if (options.partitions === undefined) return { sinceMs, partitions: null };
  if (!Array.isArray(options.partitions)) throw new TypeError('readRange: partitions must be an array of partition numbers');
  for (const p of options.partitions) {
    if (!Number.isInteger(p) || p < 0) throw new RangeError(`readRange: partitions must be whole numbers >= 0, got ${p}`);
  }
  return { sinceMs, partitions: new Set(options.partitions) };
}
