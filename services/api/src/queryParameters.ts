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

/** What to type instead of a name that is not taken, when one is near. */
function suggestion(name: string, names: readonly string[]): string {
  const bare = name.replace(/\[.*$/, '');
  if (bare !== name && names.includes(bare)) return ` (write ${bare}=value, once: there are no [] lists)`;
  const close = names.find((n) => n.toLowerCase() === name.toLowerCase() || (Math.abs(n.length - name.length) <= 1 && (n.startsWith(name) || name.startsWith(n))));
  return close ? ` (did you mean ${close}?)` : '';
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
  const unknown = Object.keys(given).filter((k) => !(names as readonly string[]).includes(k));
  if (unknown.length) {
    const takes = names.length ? `it takes ${names.join(', ')}` : 'it takes no parameters';
    throw new UnknownParameterError(
      `${endpoint} does not take ${unknown.slice(0, 5).map((k) => `${shown(k)}${suggestion(k, names)}`).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}: ${takes}, each once`,
    );
  }
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
