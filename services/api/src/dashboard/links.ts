/**
 * Links between pages, one place: the request log's filter lives in its URL (so a view can be
 * shared), and every value shown anywhere links to the log filtered by it, or excluding it.
 *
 * The log's query parameters: ip (an address or a CIDR), path (substring), method, status
 * (404 or 4xx), country (ISO code), asn (number), user (user id or login username), ua
 * (user-agent substring), since, until (ISO time or 15m/24h/7d ago), blocked, limited
 * (true|false); each of ip, path, method, status, country, asn, user, ua also as `not_<name>`
 * to exclude; `before` is the keyset cursor of the next page.
 */
import { href } from './html.ts';

export const LOG_FILTERS = ['ip', 'path', 'method', 'status', 'country', 'asn', 'user', 'ua'] as const;
export type LogFilterName = (typeof LOG_FILTERS)[number];
export type LogQuery = Partial<Record<LogFilterName | `not_${LogFilterName}` | 'since' | 'until' | 'blocked' | 'limited' | 'before', string>>;

/** The request log with this filter. */
export function logHref(query: LogQuery): string {
  return href('/requests', query);
}

/** The current filter plus one value (`not`: excluding it); the cursor is dropped (a new filter starts at the top). */
export function withFilter(current: LogQuery, name: LogFilterName, value: string | number, not = false): string {
  const { before: _drop, ...rest } = current;
  return logHref({ ...rest, [not ? `not_${name}` : name]: String(value) });
}

/** A client's page (an IP, or a network such as 2001:db8:1:2::/64). */
export function clientHref(client: string): string {
  return `/clients/${encodeURIComponent(client)}`;
}

/** The detections page filtered. */
export function detectionsHref(query: { rule?: string; severity?: string; mode?: string; client?: string; since?: string } = {}): string {
  return href('/detections', query);
}

/** A rule's page. */
export function ruleHref(id: string): string {
  return `/rules/${encodeURIComponent(id)}`;
}
