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

/** Removes control characters (terminal escapes included) from text that came from a request. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '\uFFFD');
}
