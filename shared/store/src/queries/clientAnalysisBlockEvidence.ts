/**
 * Why a rule's block is in force: the latest detection of that rule with action block for
 * the block's target (the scorer blocks the client it scored: an IP, or an IPv6 /64).
 */
import { parseIp, toIpv6Column } from '@ipwatch/core/ip';
import type { StoreConnection } from '../analytics.ts';
import { NUMBER_SETTINGS } from './clientAnalysisScope.ts';
import { DETECTION_COLUMNS, detectionRow, type DetectionColumnsRow, type DetectionRow } from './clientAnalysisDetections.ts';

export interface BlockEvidenceQuery {
  /** The block's target, canonical (an IP or a CIDR). */
  client: string;
  rule: string;
}

export async function latestBlockingDetection(conn: Pick<StoreConnection, 'client'>, query: BlockEvidenceQuery): Promise<DetectionRow | null> {
  const address = query.client.includes('/') ? null : parseIp(query.client);
  // Rows from before migration 0006 have no client: for an address target, their ip says it.
  const byIp = address === null ? '' : " OR (client = '' AND ip = {ipColumn:IPv6})";
  const rs = await conn.client.query({
    query: `SELECT ${DETECTION_COLUMNS}
            FROM detections
            WHERE rule = {rule:String} AND action = 'block' AND (client = {client:String}${byIp})
            ORDER BY ts DESC LIMIT 1`,
    query_params: { rule: query.rule, client: query.client, ...(address !== null && { ipColumn: toIpv6Column(address) }) },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  const [row] = await rs.json<DetectionColumnsRow>();
  return row === undefined ? null : detectionRow(row);
}
