/**
 * The errors the emitter throws on purpose, all at construction (when the app starts),
 * never per request: a bad option, nowhere to send events, a plugin registered twice. Each
 * carries its code from the registry in @ipwatch/core/errors.
 */
import { IpwatchError } from '@ipwatch/core/errors';

/**
 * A bad option given to one of the emitter's factories: the message names the option and
 * what to write instead.
 *
 * @example
 * try {
 *   createClientIpResolver({ trustedProxies: ['10.0.0.0/33'] });
 * } catch (err) {
 *   if (err instanceof EmitterOptionError) console.error(err.code, err.message); // IPWATCH_BAD_OPTION ...
 * }
 */
export class EmitterOptionError extends IpwatchError {
  override readonly name = 'EmitterOptionError';
  constructor(message: string) {
    super('IPWATCH_BAD_OPTION', message);
  }
}

/** An emitter created with no event log (and no buffer): it would record nothing. */
export class NoEventLogError extends IpwatchError {
  override readonly name = 'NoEventLogError';
  constructor(message: string) {
    super('IPWATCH_NO_EVENT_LOG', message);
  }
}

/** The Fastify plugin registered a second time on the same instance. */
export class PluginRegisteredTwiceError extends IpwatchError {
  override readonly name = 'PluginRegisteredTwiceError';
  constructor(message: string) {
    super('IPWATCH_PLUGIN_REGISTERED_TWICE', message);
  }
}
