/**
 * The one registry of errors a user or an operator can see, in the manner of fastify's
 * `lib/errors.js`: each has a stable code (`IPWATCH_...`), the HTTP status the api answers
 * with, the exit code the CLI uses, and what to do about it. The api and the CLI map any
 * error through here (`statusOf`, `exitCodeOf`), never through lists of `instanceof`.
 *
 * The README's "Errors" table lists every code; a test keeps the two in step.
 *
 * @example
 * throw new IpwatchError('IPWATCH_BAD_OPTION', 'trustedProxies[0]: "10.0.0.0/33" is not an IP or CIDR');
 * // api: 400 {"error": "...", "code": "IPWATCH_BAD_OPTION"}; CLI: the message, exit 2
 */

export interface ErrorSpec {
  /** The HTTP status the api answers with. */
  readonly status: number;
  /** The exit code of the CLI: 2 for what the user can fix by changing the command, 1 for the rest. */
  readonly exit: number;
  /** What the error means, in a line, for the README's table. */
  readonly meaning: string;
  /** What to do about it, in a line, for the README's table. */
  readonly action: string;
}

export const ERRORS = {
  IPWATCH_BAD_OPTION: {
    status: 500,
    exit: 2,
    meaning: 'an option given to an emitter factory (ipwatch(), createRateLimiter(), ...) is missing, of the wrong type or out of range',
    action: 'fix the option the message names; it is checked at start, never per request',
  },
  IPWATCH_NO_EVENT_LOG: {
    status: 500,
    exit: 2,
    meaning: 'an emitter (ipwatch(), withIpwatch(), the Fastify plugin) was created with nowhere to send events',
    action: "pass `log: createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'my-app' })` (or `buffer`)",
  },
  IPWATCH_PLUGIN_REGISTERED_TWICE: {
    status: 500,
    exit: 2,
    meaning: 'the ipwatch Fastify plugin was registered twice on one Fastify instance (every request would be logged and limited twice)',
    action: 'register it once, on the root instance, before your routes',
  },
  IPWATCH_CONFIG_INVALID: {
    status: 500,
    exit: 2,
    meaning: 'an IPWATCH_* environment variable is malformed or contradicts another',
    action: 'fix the variables listed; README "Configuration" gives each one and its default',
  },
  IPWATCH_USAGE: {
    status: 400,
    exit: 2,
    meaning: 'a command was called with missing, unknown or malformed arguments',
    action: 'run `ipwatch <command> --help` for its options',
  },
  IPWATCH_INTERNAL: {
    status: 500,
    exit: 1,
    meaning: 'an unexpected failure (a bug, or a component failing in a way ipwatch does not know)',
    action: 'see the service log for the stack; report it with the message',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An error ipwatch raises on purpose. Subclasses (ConfigError, FilterError, ...) fix the
 * code; the message says what was wrong and what to do.
 */
export class IpwatchError extends Error {
  override name = 'IpwatchError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The HTTP status the api answers with. */
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The CLI's exit code. */
  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** True for an error raised through the registry. */
export function isIpwatchError(err: unknown): err is IpwatchError {
  return err instanceof IpwatchError;
}

/** The HTTP status for any error: the registry's for ours, 500 for the rest. */
export function statusOf(err: unknown): number {
  return isIpwatchError(err) ? err.status : ERRORS.IPWATCH_INTERNAL.status;
}

/** The CLI exit code for any error: the registry's for ours, 1 for the rest. */
export function exitCodeOf(err: unknown): number {
  return isIpwatchError(err) ? err.exitCode : ERRORS.IPWATCH_INTERNAL.exit;
}
