/**
 * The scorer's detections, newest first, filtered by rule, severity, mode, client and time:
 * the dashboard's detections page. Keyset pagination on (ts, id), bounded by time.
 */
import type { StoreConnection } from '../analytics.ts';
import { DETECTION_COLUMNS, NAMES_CLIENT_SQL, detectionRow, type DetectionColumnsRow, type DetectionRow } from './clientAnalysisDetections.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';

export interface ListDetectionsQuery {
  rule?: string;
  severity?: string;
  /** 'live' or 'dry_run'. */
  mode?: string;
  /** The client as the scorer keys it (an IP, or an IPv6 /64), or any address inside the range given. */
  client?: { text: string; ipFrom: string; ipTo: string };
  sinceMs?: number;
  untilMs?: number;
  /** Rows per page: default 100. */
  limit?: number;
  /** Keyset cursor: only detections strictly older than (ts, id). */
  before?: { tsMs: number; id: string };
}

/**
 * @example
 * await listDetections(conn, { rule: 'credential_stuffing', mode: 'live', sinceMs: now - 86_400_000, limit: 100 });
 */
export async function listDetections(conn: Pick<StoreConnection, 'client'>, query: ListDetectionsQuery): Promise<DetectionRow[]> {
  const parts: string[] = [];
  const params: Record<string, unknown> = { limit: query.limit ?? 100 };
  if (query.rule !== undefined) {
    parts.push('rule = {rule:String}');
    params.rule = query.rule;
  }
  if (query.severity !== undefined) {
    parts.push('severity = {severity:String}');
    params.severity = query.severity;
  }
  if (query.mode !== undefined) {
    parts.push('mode = {mode:String}');
    params.mode = query.mode;
  }
  if (query.client) {
    parts.push(`(client = {client:String} OR ip BETWEEN {ipFrom:IPv6} AND {ipTo:IPv6} OR ${NAMES_CLIENT_SQL})`);
    Object.assign(params, { client: query.client.text, ipFrom: query.client.ipFrom, ipTo: query.client.ipTo });
  }
  if (query.sinceMs !== undefined) {
    parts.push('ts >= fromUnixTimestamp64Milli({since:Int64})');
    params.since = query.sinceMs;
  }
  if (query.untilMs !== undefined) {
    parts.push('ts < fromUnixTimestamp64Milli({until:Int64})');
    params.until = query.untilMs;
  }
  if (query.before) {
    parts.push('ts <= fromUnixTimestamp64Milli({beforeTs:Int64}) AND (ts < fromUnixTimestamp64Milli({beforeTs:Int64}) OR id < {beforeId:String})');
    Object.assign(params, { beforeTs: query.before.tsMs, beforeId: query.before.id });
  }
  const rs = await conn.client.query({
    query: `SELECT ${DETECTION_COLUMNS} FROM detections ${parts.length ? `WHERE ${parts.join(' AND ')}` : ''}
            ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}`,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  return (await rs.json<DetectionColumnsRow>()).map(detectionRow);
}
