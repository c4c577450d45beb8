/**
 * What is left of a request when its visitor opted out (the app's opt-out hook, the Global
 * Privacy Control signal, or an opted-out country or region): one definition, applied by the
 * emitter (before the event leaves the app) and by the enricher (where the country is known),
 * so both withhold exactly the same fields.
 */
import type { RequestEvent } from './schemas.ts';

/**
 * The address a withheld event carries: `::`, the unspecified address, which no real client
 * ever has. It still fits the IPv6 column and the topics' IP keys; the scorer never scores it.
 *
 * @example
 * if (isWithheld(enriched.request)) return; // nothing to score
 */
export const WITHHELD_IP = '::';

/**
 * Clears everything in the event that can name a person: the address (to WITHHELD_IP), the
 * user id, the login's username, the user agent, the referer and the path (a path names a
 * person too: /users/alice), and the hash mode's network. Kept: method, status, latency,
 * bytes, host, app, instance, blocked, rateLimited, authenticated and the login's outcome,
 * so aggregate figures still add up. Changes the event in place and returns it.
 *
 * @example
 * const event = codecs.RequestEvent.decode(bytes);
 * if (optedOut) withholdPersonal(event);
 */
export function withholdPersonal<E extends RequestEvent>(event: E): E {
  event.ip = WITHHELD_IP;
  event.userId = null;
  event.loginUser = null;
  event.userAgent = '';
  event.referer = '';
  event.path = '';
  event.network = null;
  return event;
}

/**
 * True when the event's visitor opted out: its address was withheld (the canonical `::`,
 * as the enricher writes it).
 *
 * @example
 * isWithheld({ ip: '::' }); // => true
 */
export function isWithheld(event: Pick<RequestEvent, 'ip'>): boolean {
  return event.ip === WITHHELD_IP;
}
