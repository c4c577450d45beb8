/**
 * The scorer's detections of one client over the analysed hours, newest first: those whose
 * ip is in the scope, or whose client is the address or its /64 (the scorer's key).
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

export const DETECTIONS_LISTED = 100;

export interface DetectionRow {
  id: string;
  ts: number;
  ip: string;
  /** What the scorer scored: the IP, or an IPv6 /64; '' for rows from before migration 0006. */
  client: string;
  rule: string;
  severity: string;
  mode: string;
  action: string;
  score: number;
  /** The figure that crossed the threshold, and the threshold. */
  count: number;
  threshold: number;
  windowStart: number;
  windowEnd: number;
  evidence: Record<string, string>;
  /** When the block it caused ends; null: no block, or one that never ends (see action). */
  blockExpiresAt: number | null;
  offence: number;
}

/** The columns, as DetectionRow names them: shared with the evidence look-up. */
/**
 * A detection that names the client {client:String} among the clients taking part (an account
 * rule's evidence['clients'], one a line), not only as the client that crossed the threshold.
 */
export const NAMES_CLIENT_SQL = "has(splitByChar('\\n', evidence['clients']), {client:String})";

export const DETECTION_COLUMNS = `id, toUnixTimestamp64Milli(ts) AS ts_ms,
  if(startsWith(toString(ip), '::ffff:') AND position(toString(ip), '.') > 0, substring(toString(ip), 8), toString(ip)) AS ip_text,
  client, rule, severity, mode, action, score, count, threshold,
  toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms, evidence,
  if(isNull(block_expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(block_expires_at))) AS block_expires_ms, offence`;

export interface DetectionColumnsRow {
  id: string;
  ts_ms: number;
  ip_text: string;
  client: string;
  rule: string;
  severity: string;
  mode: string;
  action: string;
  score: number;
  count: number;
  threshold: number;
  window_start_ms: number;
  window_end_ms: number;
  evidence: Record<string, string>;
  block_expires_ms: number | null;
  offence: number;
}

export function detectionRow(r: DetectionColumnsRow): DetectionRow {
  return {
    id: r.id, ts: Number(r.ts_ms), ip: r.ip_text, client: r.client, rule: r.rule, severity: r.severity, mode: r.mode, action: r.action,
    score: Number(r.score), count: Number(r.count), threshold: Number(r.threshold), windowStart: Number(r.window_start_ms), windowEnd: Number(r.window_end_ms),
    evidence: r.evidence ?? {}, blockExpiresAt: r.block_expires_ms === null ? null : Number(r.block_expires_ms), offence: Number(r.offence),
  };
}

export async function clientAnalysisDetections(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<{ total: number; rows: DetectionRow[] }> {
  const rs = await conn.client.query({
    query: `SELECT ${DETECTION_COLUMNS}, count() OVER () AS total
            FROM detections
            WHERE (ip BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6} OR client IN ({client:String}, {ip:String}) OR ${NAMES_CLIENT_SQL})
              AND ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
            ORDER BY ts DESC, id LIMIT {limit:UInt32}`,
    query_params: { ipFrom: scope.ipFrom, ipTo: scope.ipTo, client: scope.client, ip: scope.ip, since: scope.since, until: scope.until, limit: DETECTIONS_LISTED },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const rows = await rs.json<DetectionColumnsRow & { total: number }>();
  return { total: Number(rows[0]?.total ?? 0), rows: rows.map(detectionRow) };
}
