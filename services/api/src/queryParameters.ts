/**
 * The query string of an api request, read strictly: each route names the parameters it
 * takes, and anything else (a typo, `ip[]=`, a name of another endpoint, a repeat) is
 * refused with a 400 naming it. An ignored parameter is a filter that silently fails open.
 */
import { IpwatchError } from '@ipwatch/core/errors';
import { FilterError } from '@ipwatch/store';

/** A query parameter the endpoint does not take. */
export class UnknownParameterError extends IpwatchError {
  override readonly name = 'UnknownParameterError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_UNKNOWN_PARAMETER', message, options);
  }
}

const shown = (name: string) => JSON.stringify(name.slice(0, 40));

/** Near enough to be a typo of each other: the same but for case, or a shared start and a letter or two more or less. */
function near(a: string, b: string): boolean {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  let common = 0;
  while (common < x.length && x[common] === y[common]) common++;
  return x === y || (Math.abs(x.length - y.length) <= 2 && common >= Math.min(4, x.length, y.length));
}

/** What to type instead of a name that is not taken, when one is near. */
function suggestion(name: string, names: readonly string[]): string {
  const bare = name.replace(/\[.*$/, '');
  if (bare !== name && names.includes(bare)) return ` (write ${bare}=value, once: there are no [] lists)`;
  const close = names.find((n) => near(n, name));
  return close ? ` (did you mean ${close}?)` : '';
}

/**
 * Throws UnknownParameterError naming every name of `given` that is not one of `names`, a
 * near one suggested: `where` says what was asked, e.g. "GET /api/requests" or "a block".
 *
 * @example
 * refuseUnknownNames(['target', 'expiry'], ['target', 'expires'], 'a block', 'field');
 * // throws: a block does not take the field "expiry" (did you mean expires?): it takes target, expires
 */
export function refuseUnknownNames(given: readonly string[], names: readonly string[], where: string, noun: 'parameter' | 'field'): void {
  const unknown = given.filter((k) => !names.includes(k));
  if (unknown.length === 0) return;
  const takes = names.length ? `it takes ${names.join(', ')}` : `it takes no ${noun}s`;
  throw new UnknownParameterError(
    `${where} does not take ${unknown.length > 1 ? `the ${noun}s` : `the ${noun}`} ${unknown.slice(0, 5).map((k) => `${shown(k)}${suggestion(k, names)}`).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}: ${takes}${noun === 'parameter' ? ', each once' : ''}`,
  );
}

/**
 * The parameters of `query` (express's "simple" parser: text, or a list when repeated) that
 * the endpoint takes, as text. Throws UnknownParameterError naming every parameter it does not
 * take, and FilterError naming one given more than once or as a list.
 *
 * @example
 * readQuery({ ip: '203.0.113.7' }, ['ip', 'limit'], 'GET /api/requests'); // { ip: '203.0.113.7' }
 * readQuery({ 'ip[]': '203.0.113.7' }, ['ip', 'limit'], 'GET /api/requests'); // throws: "ip[]" is not a parameter of ...
 */
export function readQuery<N extends string>(query: unknown, names: readonly N[], endpoint: string): Partial<Record<N, string>> {
  const given = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  refuseUnknownNames(Object.keys(given), names, endpoint, 'parameter');
  const values: Partial<Record<N, string>> = {};
  for (const name of names) {
    const value = given[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      const times = Array.isArray(value) ? `${value.length} times` : 'as a structure';
      throw new FilterError(`${endpoint}: ${name} is given ${times}: give it once${name === 'ip' ? ' (a CIDR such as 203.0.113.0/24 covers a range of addresses)' : ''}`);
    }
    values[name] = value;
  }
  return values;
}
