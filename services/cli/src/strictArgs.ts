/**
 * Command-line options read strictly: node's parseArgs refuses unknown options, but keeps
 * only the last of an option given twice, so `--ip A --ip B` would quietly filter by B
 * alone. Here a repeat is refused, naming the option, and so is an empty value (an unset
 * shell variable), which would otherwise mean "no filter".
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './output.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with `strict: true`, refusing an option given more than once (unless declared
 * `multiple`) and a string option whose value is empty.
 *
 * @example
 * const { values } = parseArgsOnce(argv, { ip: { type: 'string' } });
 * // argv ['--ip', 'A', '--ip', 'B'] throws: --ip is given 2 times: give it once
 */
export function parseArgsOnce<O extends Options>(args: string[], options: O, allowPositionals = false) {
  const parsed = parseArgs({ args, options, allowPositionals, strict: true, tokens: true });
  const seen = new Map<string, number>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    seen.set(token.name, (seen.get(token.name) ?? 0) + 1);
    if (token.value === '' && options[token.name]?.type === 'string') {
      throw new UsageError(`--${token.name} is empty: give it a value, or leave --${token.name} out`);
    }
  }
  const repeated = [...seen].filter(([name, n]) => n > 1 && !options[name]?.multiple);
  if (repeated.length) {
    throw new UsageError(`${repeated.map(([name, n]) => `--${name} is given ${n} times`).join(', ')}: give each option once (a CIDR such as 203.0.113.0/24 covers a range of addresses)`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}
