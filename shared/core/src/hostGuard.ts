/**
 * The Host-header rule of the servers that answer only their own machine unless told
 * otherwise (the api, every service's /metrics and /healthz). A web page that points a name
 * of its own at 127.0.0.1 or at an internal address (DNS rebinding) reaches the server
 * through the user's browser, but the browser sends the page's name as Host: refusing names
 * the server was not told it goes by keeps the page out. Shared so both servers judge alike.
 */
import { cidrContains, parseCidr, parseIp, type ParsedCidr } from './ip.ts';

const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;
// DNS labels, plus "_" for the names compose and some orchestrators give containers.
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

/**
 * True for a Host header naming this machine's loopback: 127.0.0.1, localhost or [::1],
 * with any port. No rebinding page can send one of these.
 *
 * @example
 * isLoopbackHost('localhost:9464'); // true
 * isLoopbackHost('attacker.example:9464'); // false
 */
export function isLoopbackHost(host: string | undefined): boolean {
  return LOOPBACK_HOST.test(host ?? '');
}

/** The name or address a Host header holds, lower-cased, without its port or brackets; null when it is not host[:port]. */
export function hostNameOf(host: string | undefined): string | null {
  if (host === undefined) return null;
  const text = host.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return bracketed[1]!;
  const m = /^([^:[\]]+)(?::\d{1,5})?$/.exec(text);
  return m ? m[1]! : null;
}

/** One entry of an allow list: a name the server goes by (matched against Host), or a network its clients come from. */
export type HostAllowEntry = { kind: 'name'; name: string } | { kind: 'network'; cidr: ParsedCidr };

/**
 * Reads one allow-list entry: an IP address or CIDR is a client network, anything else must
 * be a host name. Returns a message saying what is wrong instead of an entry when it is neither.
 */
export function parseHostAllowEntry(text: string): HostAllowEntry | string {
  const entry = text.trim().toLowerCase();
  // Dotted digits or hex with colons, maybe with a /prefix: meant as an address, so parseCidr says what is wrong with it.
  const meantAsAddress = /^[\d.]+(?:\/.*)?$/.test(entry) || /^[0-9a-f.]*:[0-9a-f:.]*(?:\/.*)?$/.test(entry);
  if (meantAsAddress) {
    try {
      return { kind: 'network', cidr: parseCidr(entry) };
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (HOST_NAME.test(entry)) return { kind: 'name', name: entry.replace(/\.$/, '') };
  return `${JSON.stringify(text)} is neither a host name (e.g. sink.monitoring.svc) nor an IP address or CIDR (e.g. 10.0.0.0/8)`;
}

export interface HostGuard {
  /** The Host is loopback or a name on the allow list: not a name a rebinding page could send. */
  hostIsOurs(host: string | undefined): boolean;
  /**
   * The client's address is in an allowed network, and it addressed the server by an IP
   * address or by a name the server goes by (a browser in that network led by a rebinding
   * page would send the page's name).
   */
  clientIsAllowed(host: string | undefined, remoteAddress: string | undefined): boolean;
}

/**
 * Compiles an allow list once; each request is then a few lookups.
 *
 * @example
 * const guard = createHostGuard(['sink.monitoring.svc', '10.0.0.0/8']);
 * guard.hostIsOurs(req.headers.host) || guard.clientIsAllowed(req.headers.host, req.socket.remoteAddress);
 */
export function createHostGuard(allow: readonly string[]): HostGuard {
  const names = new Set<string>();
  const networks: ParsedCidr[] = [];
  for (const text of allow) {
    const entry = parseHostAllowEntry(text);
    if (typeof entry === 'string') throw new TypeError(`bad allow-list entry: ${entry}`);
    if (entry.kind === 'name') names.add(entry.name);
    else networks.push(entry.cidr);
  }
  const nameListed = (host: string | undefined): boolean => {
    const name = hostNameOf(host);
    return name !== null && names.has(name.replace(/\.$/, ''));
  };
  return {
    hostIsOurs: (host) => isLoopbackHost(host) || nameListed(host),
    clientIsAllowed(host, remoteAddress) {
      if (networks.length === 0 || remoteAddress === undefined) return false;
      const client = parseIp(remoteAddress);
      if (client === null || !networks.some((n) => cidrContains(n, client))) return false;
      const name = hostNameOf(host);
      return name !== null && (parseIp(name) !== null || isLoopbackHost(host) || nameListed(host));
    },
  };
}
