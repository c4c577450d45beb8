/**
 * The checks the emitter's factories make of their options, once, at construction: one
 * wording for every whole number, choice, switch, hook and part the app passes in (an event
 * log, a buffer), and always an EmitterOptionError that names the option, what it takes,
 * and what was given.
 *
 * @example
 * const maxEvents = wholeNumber('maxEvents', options.maxEvents ?? 10_000, 1, 10_000_000);
 * const by = oneOf('rules.routes[0].by', route.by ?? 'ip', ['ip', 'user', 'ip+user']);
 */
import { EmitterOptionError } from './errors.ts';

/**
 * A whole number from `min` to `max` (Infinity: no upper bound); `unit` ('ms') is named in
 * the message, and `meaning` says what the number is, for a range that needs a word.
 *
 * @example
 * wholeNumber('retryIntervalMs', 0, 1, 600_000, 'ms'); // throws: retryIntervalMs must be a whole number of ms from 1 to 600000, not 0
 * wholeNumber('blocked.status', 200, 400, 599, undefined, 'an HTTP error status');
 * // throws: blocked.status must be an HTTP error status, a whole number from 400 to 599, not 200
 */
export function wholeNumber(name: string, value: unknown, min: number, max: number, unit?: string, meaning?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `from ${min} to ${max}`;
    const kind = `a whole number${unit === undefined ? '' : ` of ${unit}`} ${range}`;
    throw new EmitterOptionError(`${name} must be ${meaning === undefined ? kind : `${meaning}, ${kind}`}, not ${JSON.stringify(value)}`);
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

/**
 * An object of the kind `what` describes, recognised by the `method` it must have (an event
 * log, a buffer, a mirror): caught here, at start, rather than as a TypeError per request.
 *
 * @example
 * objectWith('buffer', options.buffer, 'push', 'an EventBuffer (see createEventBuffer)');
 * // throws: buffer must be an EventBuffer (see createEventBuffer), not undefined
 */
export function objectWith<T extends object>(name: string, value: T | undefined, method: string, what: string): T {
  if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function') return value;
  // An object's JSON could be long (a whole config): what is missing says more.
  const given = typeof value === 'object' && value !== null ? `an object without ${method}()` : (JSON.stringify(value) ?? String(value));
  throw new EmitterOptionError(`${name} must be ${what}, not ${given}`);
}
