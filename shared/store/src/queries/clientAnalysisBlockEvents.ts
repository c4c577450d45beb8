/**
 * The audit trail (block_events) of one client: changes whose target is the address or a
 * range holding it, and for an IPv6 /64 also targets inside it. ClickHouse returns the
 * candidates (the address, every range, IPv6 addresses in the /64); containment is decided
 * here with @ipwatch/core/ip, the code that decides it for blocks in force.
 */
import { cidrContains, parseCidr, parseIp, type ParsedCidr } from '@ipwatch/core/ip';
import type { StoreConnection } from '../analytics.ts';
import type { BlockEventRow } from './insertBlockEvents.ts';
import { NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

/** Candidate rows read, newest first; an audit trail with more ranges than this is cut (and says so). */
export const BLOCK_EVENT_CANDIDATES = 5000;
export const BLOCK_EVENTS_LISTED = 100;

/** Whether a block target applies to the scope: it holds the address, or (IPv6) lies inside its /64. */
export function targetConcerns(target: string, scope: Pick<ClientScope, 'ip' | 'client' | 'kind'>): boolean {
  let cidr: ParsedCidr;
  try {
    cidr = parseCidr(target);
  } catch {
    return false; // not a target ipwatch could have written; nothing to say about it
  }
  const ip = parseIp(scope.ip);
  if (ip === null) return false;
  if (cidrContains(cidr, ip)) return true;
  if (scope.kind !== 'network/64') return false;
  const net = parseCidr(scope.client);
  return cidr.version === 6 && cidr.prefix >= 64 && cidrContains(net, { version: 6, value: cidr.network });
}

export async function clientAnalysisBlockEvents(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<{ rows: BlockEventRow[]; truncated: boolean }> {
  const rs = await conn.client.query({
    query: `SELECT toUnixTimestamp64Milli(ts) AS ts, action, target, reason, source, severity,
                   if(isNull(expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(expires_at))) AS expires_at, actor, note
            FROM block_events
            WHERE target = {ip:String} OR position(target, '/') > 0
               OR (position(target, ':') > 0 AND toIPv6OrNull(target) BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6})
            ORDER BY ts DESC LIMIT {limit:UInt32}`,
    query_params: { ip: scope.ip, ipFrom: scope.ipFrom, ipTo: scope.ipTo, limit: BLOCK_EVENT_CANDIDATES },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const candidates = await rs.json<BlockEventRow>();
  const rows = candidates
    .filter((r) => targetConcerns(r.target, scope))
    .map((r) => ({ ...r, ts: Number(r.ts), expires_at: r.expires_at === null ? null : Number(r.expires_at) }));
  return { rows: rows.slice(0, BLOCK_EVENTS_LISTED), truncated: candidates.length === BLOCK_EVENT_CANDIDATES || rows.length > BLOCK_EVENTS_LISTED };
}
