/**
 * The one error the emitter throws on purpose: a bad option, at construction, naming the
 * option and what to write instead. Nothing in the request path throws.
 */

/**
 * A bad option given to one of the emitter's factories. Thrown once, at start, never per request.
 *
 * @example
 * try {
 *   createClientIpResolver({ trustedProxies: ['10.0.0.0/33'] });
 * } catch (err) {
 *   if (err instanceof EmitterOptionError) console.error(err.code, err.message);
 * }
 */
export class EmitterOptionError extends Error {
  override readonly name = 'EmitterOptionError';
  readonly code = 'IPWATCH_EMITTER_BAD_OPTION';
}
