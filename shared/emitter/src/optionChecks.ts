/**
 * The checks the emitter's factories make of their options, once, at construction: one
 * wording for every whole number, choice, switch and hook, and always an EmitterOptionError
 * that names the option, what it takes, and what was given.
 *
 * @example
 * const maxEvents = wholeNumber('maxEvents', options.maxEvents ?? 10_000, 1, 10_000_000);
 * const by = oneOf('rules.routes[0].by', route.by ?? 'ip', ['ip', 'user', 'ip+user']);
 */
import { EmitterOptionError } from './errors.ts';

/**
 * A whole number from `min` to `max`; `unit` ('ms') is named in the message.
 *
 * @example
 * wholeNumber('retryIntervalMs', 0, 1, 600_000, 'ms'); // throws: retryIntervalMs must be a whole number of ms from 1 to 600000, not 0
 */
export function wholeNumber(name: string, value: unknown, min: number, max: number, unit?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new EmitterOptionError(`${name} must be a whole number${unit === undefined ? '' : ` of ${unit}`} from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * One of `choices`; `meanings` adds a word on what a choice does to the message.
 *
 * @example
 * oneOf('statusCode', 500, [429, 403], { 429: 'Too Many Requests, the default' });
 * // throws: statusCode must be 429 (Too Many Requests, the default) or 403, not 500
 */
export function oneOf<T extends string | number>(name: string, value: unknown, choices: readonly T[], meanings: Partial<Record<T, string>> = {}): T {
  if ((choices as readonly unknown[]).includes(value)) return value as T;
  const items = choices.map((c) => {
    const shown = typeof c === 'string' ? `'${c}'` : String(c);
    const meaning = meanings[c];
    return meaning === undefined ? shown : `${shown} (${meaning})`;
  });
  const listed = items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}` : (items[0] ?? '');
  throw new EmitterOptionError(`${name} must be ${listed}, not ${JSON.stringify(value)}`);
}

/** true or false. */
export function trueOrFalse(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new EmitterOptionError(`${name} must be true or false, not ${JSON.stringify(value)}`);
  return value;
}

/**
 * A hook the app may give: undefined, or a function of the `signature` shown in the message.
 *
 * @example
 * optionalFunction('onLimited', options.onLimited, '(event) => void');
 */
export function optionalFunction<F extends (...args: never[]) => unknown>(name: string, value: F | undefined, signature: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new EmitterOptionError(`${name} must be a function ${signature}`);
  return value;
}
