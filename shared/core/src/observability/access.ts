/**
 * Who may read /metrics and /healthz: block counts and error details are not for any web
 * page. The api's rule (loopback Host only, or the token when one is set), plus an allow
 * list for scrapers and probes on other hosts that cannot send a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { IpwatchError } from '../errors.ts';
import { createHostGuard } from '../hostGuard.ts';

export interface MetricsAccess {
  /** Bearer token a scraper sends (IPWATCH_METRICS_TOKEN); when set, it is required unless the client is in an allowed network. */
  token: string | null;
  /** Host names the server goes by and client networks that may read it (IPWATCH_METRICS_ALLOW). */
  allow: readonly string[];
}

/** Loopback only, no token: what a server gets when it is told nothing. */
export const LOOPBACK_ONLY: MetricsAccess = Object.freeze({ token: null, allow: Object.freeze([]) });

const digest = (s: string) => createHash('sha256').update(s).digest();
/** RFC 7235: the scheme is case-insensitive, one or more spaces before the credential. */
const BEARER = /^bearer +(\S+)$/i;

/**
 * Compiles the rule once; returns, for each request, the refusal to answer with, or null.
 *
 * @example
 * const refusal = metricsRefusal({ token: config.metricsAccess.token, allow: config.metricsAccess.allow });
 * const err = refusal(req); // null: answer it
 */
export function metricsRefusal(access: MetricsAccess): (req: IncomingMessage) => IpwatchError | null {
  const guard = createHostGuard(access.allow);
  const expected = access.token ? digest(access.token) : null;
  return (req) => {
    const host = req.headers.host;
    if (expected) {
      const given = BEARER.exec(req.headers.authorization ?? '')?.[1];
      // Digests, so the comparison takes the same time whatever the token's length.
      if (given && timingSafeEqual(digest(given), expected)) return null;
    }
    if (guard.clientIsAllowed(host, req.socket.remoteAddress)) return null;
    // With a token set, a Host alone never stands in for it: any client can send any Host.
    if (!expected && guard.hostIsOurs(host)) return null;
    return expected
      ? new IpwatchError('IPWATCH_METRICS_BAD_TOKEN', 'missing or wrong metrics token: send "Authorization: Bearer <IPWATCH_METRICS_TOKEN>" (Prometheus: authorization.credentials in the scrape config), or list the scraper\'s network in IPWATCH_METRICS_ALLOW')
      : new IpwatchError('IPWATCH_METRICS_NOT_ALLOWED', `/metrics and /healthz answer only requests addressed to 127.0.0.1, localhost, [::1] or a name in IPWATCH_METRICS_ALLOW, not ${JSON.stringify((host ?? '').slice(0, 100))}: scrape on loopback, or set IPWATCH_METRICS_TOKEN (scrapers send it as a bearer token) or IPWATCH_METRICS_ALLOW (the names this service is scraped under, the scrapers' networks)`);
  };
}
