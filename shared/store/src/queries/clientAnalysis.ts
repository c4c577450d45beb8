/**
 * Everything the store knows about one client over the last N hours: its traffic, hours,
 * geolocation, paths, user agents, sensitive-path hits, logins, rate-limit refusals,
 * detections, and the audit trail of blocks that concern it. One query per file
 * (clientAnalysis*.ts); this one runs them and puts the answers together.
 */
import type { StoreConnection } from '../analytics.ts';
import type { BlockEventRow } from './insertBlockEvents.ts';
import { clientScope, type ClientAnalysisQuery } from './clientAnalysisScope.ts';
import { clientAnalysisTraffic, type ClientGeo, type ClientLoginCounts, type ClientTraffic } from './clientAnalysisTraffic.ts';
import { clientAnalysisHours, type ClientHour } from './clientAnalysisHours.ts';
import { clientAnalysisTop, type ClientTop } from './clientAnalysisTop.ts';
import { clientAnalysisPaths, sensitivePaths, topPaths, type ClientSensitivePaths } from './clientAnalysisSensitive.ts';
import { clientAnalysisRateLimits, type ClientRateLimits } from './clientAnalysisRateLimits.ts';
import { clientAnalysisDetections, type DetectionRow } from './clientAnalysisDetections.ts';
import { clientAnalysisBlockEvents } from './clientAnalysisBlockEvents.ts';

export interface ClientAnalysis {
  /** The address asked about, canonical. */
  ip: string;
  /**
   * What the figures cover: `address` (IPv4: the address alone) or `network/64` (IPv6: every
   * address of its /64, as the scorer scores it); `client` is the address or the /64.
   */
  scope: { kind: 'address' | 'network/64'; client: string };
  /** [since, until) in epoch ms: `hours` whole clock hours (UTC), the last one the current hour. */
  range: { since: number; until: number; hours: number };
  traffic: ClientTraffic;
  hourly: ClientHour[];
  /** The latest request's geolocation that had one; null when none did. */
  geo: ClientGeo | null;
  topPaths: ReturnType<typeof topPaths>;
  userAgents: ClientTop['userAgents'];
  sensitivePaths: ClientSensitivePaths;
  logins: ClientLoginCounts & { usernames: ClientTop['usernames'] };
  rateLimits: ClientRateLimits;
  /** In the range, newest first (at most 100 rows; total counts all). */
  detections: { total: number; rows: DetectionRow[] };
  /** Every change (block, unblock, allow, unallow) whose target concerns the client, whenever made: newest first, at most 100. */
  blockHistory: { rows: BlockEventRow[]; truncated: boolean };
}

export type { ClientAnalysisQuery };

/**
 * @example
 * const a = await analytics.clientAnalysis({ ip: '203.0.113.7', hours: 24 });
 * a.traffic.requests; a.hourly.length === 24; a.scope.kind === 'address'
 */
export async function clientAnalysis(conn: Pick<StoreConnection, 'client'>, query: ClientAnalysisQuery): Promise<ClientAnalysis> {
  const scope = clientScope(query);
  // One after another: chDB runs one query at a time anyway, and a server is spared a burst.
  const { traffic, geo, logins } = await clientAnalysisTraffic(conn, scope);
  const hourly = await clientAnalysisHours(conn, scope);
  const top = await clientAnalysisTop(conn, scope);
  // One pass over the client's paths gives both its top paths and its sensitive-path hits.
  const paths = await clientAnalysisPaths(conn, scope);
  const rateLimits = await clientAnalysisRateLimits(conn, scope);
  const detections = await clientAnalysisDetections(conn, scope);
  const blockHistory = await clientAnalysisBlockEvents(conn, scope);
  return {
    ip: scope.ip,
    scope: { kind: scope.kind, client: scope.client },
    range: { since: scope.since, until: scope.until, hours: scope.hours },
    traffic,
    hourly,
    geo,
    topPaths: topPaths(paths),
    userAgents: top.userAgents,
    sensitivePaths: sensitivePaths(paths),
    logins: { ...logins, usernames: top.usernames },
    rateLimits,
    detections,
    blockHistory,
  };
}
