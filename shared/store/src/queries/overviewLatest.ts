/**
 * The overview's latest detections and blocks of a range: newest first, a few of each, with
 * how many there were in all.
 */
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import { DETECTION_COLUMNS, detectionRow, type DetectionColumnsRow, type DetectionRow } from './clientAnalysisDetections.ts';
import { REAL_AUDIT_ROW_IN_RANGE } from './dailyReportSecurity.ts';

/** A block made in the range (block_events, action `block`). */
export interface OverviewBlock {
  ts: number;
  target: string;
  reason: string;
  /** A rule's id, `manual` or `import`. */
  source: string;
  severity: string;
  /** Epoch ms; null: never. */
  expiresAt: number | null;
  actor: string;
}

export interface LatestRange {
  sinceMs: number;
  untilMs: number;
  limit: number;
}

/**
 * @example
 * await latestDetections(conn, { sinceMs, untilMs, limit: 10 }); // newest first
 */
export async function latestDetections(conn: Pick<StoreConnection, 'client'>, range: LatestRange): Promise<DetectionRow[]> {
  const rs = await conn.client.query({
    query: `SELECT ${DETECTION_COLUMNS} FROM detections
            WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
            ORDER BY ts DESC, id LIMIT {limit:UInt32}`,
    query_params: { since: range.sinceMs, until: range.untilMs, limit: range.limit },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  return (await rs.json<DetectionColumnsRow>()).map(detectionRow);
}

/**
 * @example
 * await latestBlocks(conn, { sinceMs, untilMs, limit: 10 }); // newest first
 */
export async function latestBlocks(conn: Pick<StoreConnection, 'client'>, range: LatestRange): Promise<OverviewBlock[]> {
  const rs = await conn.client.query({
    query: `SELECT toUnixTimestamp64Milli(ts) AS ts_ms, target, reason, source, severity,
                   if(isNull(expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(expires_at))) AS expires_ms, actor
            FROM block_events
            WHERE action = 'block' AND ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64}) AND ${REAL_AUDIT_ROW_IN_RANGE}
            ORDER BY ts DESC, target LIMIT {limit:UInt32}`,
    query_params: { since: range.sinceMs, until: range.untilMs, limit: range.limit },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const rows = await rs.json<{ ts_ms: number; target: string; reason: string; source: string; severity: string; expires_ms: number | null; actor: string }>();
  return rows.map((r) => ({ ts: Number(r.ts_ms), target: r.target, reason: r.reason, source: r.source, severity: r.severity, expiresAt: r.expires_ms === null ? null : Number(r.expires_ms), actor: r.actor }));
}
