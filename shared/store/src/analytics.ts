/**
 * The analytics store: one `@clickhouse/client` whatever the engine. Embedded mode plugs
 * chDB in as the client's connection (ClickHouse in-process, data on disk); distributed
 * mode talks HTTP to a ClickHouse server. The SQL is the same either way.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';

import type { IpwatchConfig } from '@ipwatch/core/config';
import { IpwatchError } from '@ipwatch/core/errors';
import type { RequestFilter } from './queries/requestFilter.ts';
import { listRequests, listRequestLog, type RequestRow, type RequestLogRow } from './queries/listRequests.ts';
import { countRequests } from './queries/countRequests.ts';
import { listDetections, type ListDetectionsQuery } from './queries/listDetections.ts';
import { listRateLimitEvents, type ListRateLimitEventsQuery, type RateLimitEvents } from './queries/listRateLimitEvents.ts';
import { insertBlockEvents, type BlockEventRow } from './queries/insertBlockEvents.ts';
import { listBlockEvents, type ListBlockEventsOptions } from './queries/listBlockEvents.ts';
import { insertStreamRows, type StreamRowsInsert } from './queries/insertStreamRows.ts';
import { storedOffsets, type StoredOffsetsQuery } from './queries/storedOffsets.ts';
import { countAppliedMigrations } from './queries/countAppliedMigrations.ts';
import { clientAnalysis, type ClientAnalysis, type ClientAnalysisQuery } from './queries/clientAnalysis.ts';
import { latestBlockingDetection, type BlockEvidenceQuery } from './queries/clientAnalysisBlockEvidence.ts';
import type { DetectionRow } from './queries/clientAnalysisDetections.ts';
import { scanRequests, storedDetectionIds, type ScanRequestsQuery, type ScannedRequest } from './queries/scanRequests.ts';
import { dailyReport, type DailyReport, type DailyReportQuery } from './queries/dailyReport.ts';
import { overview, type Overview, type OverviewQuery } from './queries/overview.ts';
import { exportSubject, previewSubject, type ExportOptions, type PrivacyExport, type PrivacyPreview } from './privacy/export.ts';
import { eraseSubject, pendingErasures, type EraseOptions, type ErasureReport } from './privacy/erase.ts';
import { listAudit, recordAudit, type AuditEntry, type ListAuditQuery } from './privacy/audit.ts';
import type { PersonalStateHolder, PrivacySubject } from '@ipwatch/core/dataSubject';

type ClientOptions = NonNullable<Parameters<typeof createClient>[0]>;

/** The ClickHouse connection the query files run on; services never hold it. */
export interface StoreConnection {
  readonly client: ClickHouseClient;
  readonly engine: 'chdb' | 'server';
  readonly database: string;
  /**
   * chDB only: rows already serialised (JSONCompactEachRow lines) handed to the engine's own
   * parser as bytes, on a session of their own, with query-scoped settings (chDB's client adapter
   * makes settings session-wide SETs and builds the insert as one SQL string; this skips both:
   * 5 to 10 µs of CPU less per request row, measured on the sink's batches).
   */
  readonly rawInsert?: (table: string, columns: readonly string[], lines: Buffer, settings: Record<string, string | number>) => Promise<void>;
}

/**
 * What services ask of the analytics store: one method per named query
 * (`queries/*.ts`, typed parameters). No SQL and no client leave shared/store.
 */
export interface AnalyticsStore {
  readonly engine: 'chdb' | 'server';
  listRequests(filter: RequestFilter): Promise<RequestRow[]>;
  countRequests(filter?: Omit<RequestFilter, 'limit'>): Promise<number>;
  /** One page of the request log by keyset (the dashboard's log and its CSV export). */
  listRequestLog(filter: RequestFilter): Promise<RequestLogRow[]>;
  listDetections(query: ListDetectionsQuery): Promise<DetectionRow[]>;
  listRateLimitEvents(query: ListRateLimitEventsQuery): Promise<RateLimitEvents>;
  insertBlockEvents(rows: BlockEventRow | BlockEventRow[]): Promise<void>;
  listBlockEvents(options?: ListBlockEventsOptions): Promise<BlockEventRow[]>;
  insertStreamRows(insert: StreamRowsInsert): Promise<void>;
  storedOffsets(query: StoredOffsetsQuery): Promise<Set<string>>;
  countAppliedMigrations(): Promise<number>;
  clientAnalysis(query: ClientAnalysisQuery): Promise<ClientAnalysis>;
  latestBlockingDetection(query: BlockEvidenceQuery): Promise<DetectionRow | null>;
  /** Every request of a range, oldest first, in chunks (what `ipwatch detect` scores). */
  scanRequests(query: ScanRequestsQuery, onRows: (rows: ScannedRequest[]) => void | Promise<void>): Promise<number>;
  storedDetectionIds(sinceMs: number): Promise<Set<string>>;
  /** One local day's traffic and defence against the day before (the alerter's daily report). */
  dailyReport(query: DailyReportQuery): Promise<DailyReport>;
  /** A range of time against the one before it (the dashboard's overview). */
  overview(query: OverviewQuery): Promise<Overview>;
  /** Everything stored about an address, a range or a user (privacy/export.ts); recorded in the audit log. */
  exportSubject(subject: PrivacySubject, options: ExportOptions): Promise<PrivacyExport>;
  /** What an erasure would find, counted only, not recorded (the confirmation before it). */
  previewSubject(subject: PrivacySubject, holders?: readonly PersonalStateHolder[]): Promise<PrivacyPreview>;
  /** Removes it everywhere it can be removed (privacy/erase.ts); idempotent, finishes a half-done run. */
  eraseSubject(subject: PrivacySubject, options: EraseOptions): Promise<ErasureReport>;
  pendingErasures(): ReturnType<typeof pendingErasures>;
  listAudit(query?: ListAuditQuery): Promise<AuditEntry[]>;
  recordAudit(entry: AuditEntry): Promise<void>;
  close(): Promise<void>;
}

/** The store as its opener holds it: the query methods, and the connection for migrations and tests. */
export interface Analytics extends AnalyticsStore, StoreConnection {}

/** Puts the named queries on a connection. */
function withQueries(conn: StoreConnection, close: () => Promise<void>): Analytics {
  return {
    client: conn.client,
    engine: conn.engine,
    database: conn.database,
    ...(conn.rawInsert && { rawInsert: conn.rawInsert }),
    listRequests: (filter) => listRequests(conn, filter),
    countRequests: (filter) => countRequests(conn, filter),
    listRequestLog: (filter) => listRequestLog(conn, filter),
    listDetections: (query) => listDetections(conn, query),
    listRateLimitEvents: (query) => listRateLimitEvents(conn, query),
    insertBlockEvents: (rows) => insertBlockEvents(conn, rows),
    listBlockEvents: (options) => listBlockEvents(conn, options),
    insertStreamRows: (insert) => insertStreamRows(conn, insert),
    storedOffsets: (query) => storedOffsets(conn, query),
    countAppliedMigrations: () => countAppliedMigrations(conn),
    clientAnalysis: (query) => clientAnalysis(conn, query),
    latestBlockingDetection: (query) => latestBlockingDetection(conn, query),
    scanRequests: (query, onRows) => scanRequests(conn, query, onRows),
    storedDetectionIds: (sinceMs) => storedDetectionIds(conn, sinceMs),
    dailyReport: (query) => dailyReport(conn, query),
    overview: (query) => overview(conn, query),
    exportSubject: (subject, options) => exportSubject(conn, subject, options),
    previewSubject: (subject, holders) => previewSubject(conn, subject, holders),
    eraseSubject: (subject, options) => eraseSubject(conn, subject, options),
    pendingErasures: () => pendingErasures(conn),
    listAudit: (query) => listAudit(conn, query),
    recordAudit: (entry) => recordAudit(conn, entry),
    close,
  };
}

const CHDB_DATABASE = 'ipwatch';

/**
 * Opens the store named by the config: `clickhouse` set means a server, otherwise chDB
 * under `<dataDir>/chdb`. Creates the database if it is missing.
 */
export async function openAnalytics(config: Pick<IpwatchConfig, 'clickhouse' | 'dataDir'>): Promise<Analytics> {
  if (config.clickhouse) {
    const { url, username, password, database } = config.clickhouse;
    const bootstrap = createClient({ url, username, password });
    try {
      // database is a validated identifier (config.ts), so it is safe to place in DDL.
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    } catch (err) {
      throw new IpwatchError('IPWATCH_STORE_UNREACHABLE', `cannot reach ClickHouse at ${url}: ${(err as Error).message}. Check IPWATCH_CLICKHOUSE_URL and that the server is up.`, { cause: err });
    } finally {
      await bootstrap.close();
    }
    const client = createClient({ url, username, password, database, clickhouse_settings: { date_time_input_format: 'best_effort' } });
    return withQueries({ client, engine: 'server', database }, () => client.close());
  }
  // chDB is loaded only here, so a server deployment never needs its 500 MB native library.
  const { createChdbConnection } = await import('chdb/connection');
  const path = join(config.dataDir, 'chdb');
  mkdirSync(path, { recursive: true });
  // chdb types its connection against @clickhouse/client-common's copy of the settings
  // types, which is structurally the same as the client's own but nominally distinct.
  const connection = createChdbConnection({ path }) as unknown as NonNullable<ClientOptions['connection']>;
  const client = createClient({ connection, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  // chDB runs one session per process and ignores the client's `database` option; USE sticks to that session.
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${CHDB_DATABASE}` });
  await client.command({ query: `USE ${CHDB_DATABASE}` });
  // The inserts' own session, opened at the first one (a session on the same path shares the engine and its data).
  let inserts: import('chdb').Session | null = null;
  const rawInsert = async (table: string, columns: readonly string[], lines: Buffer, settings: Record<string, string | number>) => {
    if (inserts === null) {
      const { Session } = await import('chdb');
      inserts = new Session(path);
    }
    await inserts.insert({ table: `${CHDB_DATABASE}.${table}`, values: lines, format: 'JSONCompactEachRow', columns, settings: { date_time_input_format: 'best_effort', ...settings } });
  };
  return withQueries({ client, engine: 'chdb', database: CHDB_DATABASE, rawInsert }, async () => {
    inserts?.close();
    await client.close();
  });
}
