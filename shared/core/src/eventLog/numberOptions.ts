/**
 * The checks of the event-log adapters' numeric options, made once at construction: a
 * wrong value is a RangeError naming the option, never a misbehaving log later.
 *
 * @example
 * const partitions = positiveInt('partitions', opts.partitions ?? 1);
 */

/** A whole number >= 1 (counts: partitions, batch sizes). */
export function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a whole number >= 1, got ${v}`);
  return v;
}

/** A finite number >= 0 (waits that may be zero). */
export function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a number >= 0, got ${v}`);
  return v;
}

/** A finite number > 0 (timeouts, intervals). */
export function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a number > 0, got ${v}`);
  return v;
}
