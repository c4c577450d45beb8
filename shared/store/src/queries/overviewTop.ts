/**
 * The overview's top lists: clients, paths, user agents and networks from the hourly
 * heavy-hitter sketches (overviewSketch.ts, migration 0009), so a long tail of millions of
 * distinct paths or addresses is never grouped. The top clients' geolocation is then looked up
 * from requests for those few addresses only: in the range's last hour first (a top client is
 * nearly always there), in the whole range for those not found.
 */
import type { StoreConnection } from '../analytics.ts';
import { OVERVIEW_SETTINGS } from './overviewSeries.ts';
import { sketchTops, type SketchCounted, type SketchRow } from './overviewSketch.ts';

export type { SketchCounted };

export interface OverviewClient extends SketchCounted {
  /** The address as text: IPv4 bare. */
  ip: string;
  /** Its latest geolocation in the range ('' / 0 when unknown). */
  country: string;
  asn: number;
  org: string;
}

export interface OverviewPath extends SketchCounted {
  path: string;
}

export interface OverviewAsn extends SketchCounted {
  /** 0 for addresses without an ASN. */
  asn: number;
  org: string;
}

export interface OverviewUserAgent extends SketchCounted {
  /** '' for requests that sent none. */
  userAgent: string;
}

export interface OverviewTops {
  clients: OverviewClient[];
  paths: OverviewPath[];
  asns: OverviewAsn[];
  userAgents: OverviewUserAgent[];
  /** Distinct clients of the range and the previous one (the sketches' uniq). */
  distinctClients: { value: number; previous: number };
}

/** The column's IPv6 text as people write it: IPv4-mapped addresses bare. */
export function ipText(stored: string): string {
  return stored.startsWith('::ffff:') && stored.includes('.') ? stored.slice(7) : stored;
}

const counts = (r: SketchRow): SketchCounted => ({ requests: r.requests, previous: r.previous, change: r.change, error: r.error });

const HOUR = 3_600_000;

/**
 * The latest geolocation in [sinceMs, untilMs) of each of a few addresses (as the column's
 * text), keyed by that text. Looked for in the range's last hour first (through 0008's
 * by-client projection: far less to read than the whole range), then in the whole range for
 * the addresses not found there.
 */
async function geolocations(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number }, ips: string[]): Promise<Map<string, [string, number, string]>> {
  const found = new Map<string, [string, number, string]>();
  const lookup = async (sinceMs: number, wanted: string[]) => {
    if (wanted.length === 0) return;
    const rs = await conn.client.query({
      query: `SELECT toString(ip) AS ip_text, argMax(tuple(country, asn, org), ts) AS geo
              FROM requests
              WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
                AND ip IN {ips:Array(IPv6)} AND (country != '' OR asn != 0 OR org != '')
              GROUP BY ip_text`,
      query_params: { since: sinceMs, until: range.untilMs, ips: wanted },
      format: 'JSONEachRow',
      clickhouse_settings: OVERVIEW_SETTINGS,
    });
    for (const g of await rs.json<{ ip_text: string; geo: [string, number, string] }>()) found.set(g.ip_text, g.geo);
  };
  const lastHour = Math.max(range.sinceMs, range.untilMs - HOUR);
  await lookup(lastHour, ips);
  if (lastHour > range.sinceMs) await lookup(range.sinceMs, ips.filter((ip) => !found.has(ip)));
  return found;
}

/**
 * The four top lists of [sinceMs, untilMs) against the range before it.
 *
 * @example
 * const t = await overviewTops(conn, { sinceMs, untilMs, top: 10 });
 * t.clients[0]; // { ip: '203.0.113.7', requests: 4120, previous: 3900, change: 0.056, error: 0, country: 'FR', asn: 16276, org: 'OVH SAS' }
 */
export async function overviewTops(conn: Pick<StoreConnection, 'client'>, range: { sinceMs: number; untilMs: number; top: number }): Promise<OverviewTops> {
  const t = await sketchTops(conn, range);
  const geo = await geolocations(conn, range, t.client.map((r) => r.key));
  return {
    clients: t.client.map((r) => {
      const [country, asn, org] = geo.get(r.key) ?? ['', 0, ''];
      return { ip: ipText(r.key), ...counts(r), country: String(country), asn: Number(asn), org: String(org) };
    }),
    paths: t.path.map((r) => ({ path: r.key, ...counts(r) })),
    // The sketch's key is "<asn> <org>".
    asns: t.asn.map((r) => {
      const space = r.key.indexOf(' ');
      return { asn: Number(space < 0 ? r.key : r.key.slice(0, space)) || 0, org: space < 0 ? '' : r.key.slice(space + 1), ...counts(r) };
    }),
    userAgents: t.user_agent.map((r) => ({ userAgent: r.key, ...counts(r) })),
    distinctClients: t.distinctClients,
  };
}
