/** How the CLI speaks: results to stdout, everything else to stderr, errors with what to do next. */
import { IpwatchError } from '@ipwatch/core/errors';

/** A command called wrongly: exit 2, and the message says what to type instead. */
export class UsageError extends IpwatchError {
  override readonly name = 'UsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_USAGE', message, options);
  }
}

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export const info = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * Characters a terminal does not show as themselves: controls (terminal escapes), format
 * characters (bidi marks and overrides, zero-width joiners, the BOM, tags), line and
 * paragraph separators, lone surrogates and every other default-ignorable code point
 * (U+034F, variation selectors, Hangul fillers). By property, not by list, so new ones are in.
 */
const UNSHOWN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * Text that came from a request, as the table views show it: each character a terminal would
 * hide, reorder or act on becomes U+FFFD (one column, so tables stay aligned). `--json` and
 * the store keep the text exactly.
 *
 * @example
 * printable('/admin\u202Egpj.exe'); // '/admin\uFFFDgpj.exe'
 */
export function printable(text: string): string {
  return text.replace(UNSHOWN, '\uFFFD');
}
