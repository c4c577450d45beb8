/**
 * For the SQL page's tests: the api with its dashboard and the real SQL service
 * (createSqlService, as main.ts builds it) over a chDB of its own in a temporary directory
 * (the service opens a second, read-only session over the same data), with a sign-in token, on
 * a free loopback port (closed when the test ends); a signed-in browser-like session (the
 * cookie, the page's form token, same-origin posts); and requests stored as the sink would.
 */
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqlLimits } from '@ipwatch/core/config';
import { migrate, openAnalytics, type Analytics } from '@ipwatch/store';
import { createApiApp } from '../../apiServer.ts';
import { createSqlService, type SqlService } from '../../sql/service.ts';
import { afterThisTest } from '../../../../../test/support/afterThisTest.ts';
import { session, signIn, type Session } from './signedInSession.ts';

export type { Answer, Session } from './signedInSession.ts';

export const TOKEN = 'analyst:sql-page-test-secret-0123456789abcdef';

/** Low enough that a test reaches the rows-read limit with numbers(). */
export const LIMITS: SqlLimits = { maxRowsRead: 100_000, maxResultRows: 5_000, maxResultBytes: 8 * 1024 * 1024, maxSeconds: 20, maxMemoryMb: 1024 };

export interface SqlApp {
  base: string;
  analytics: Analytics;
  sql: SqlService | null;
  signIn(): Promise<Session>;
  signedOut(): Session;
}

let store: Promise<{ analytics: Analytics; dataDir: string }> | undefined;

/** One chDB per test file (one engine per process), migrated, in a directory of its own. */
function sharedStore(): Promise<{ analytics: Analytics; dataDir: string }> {
  store ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipwatch-sql-page-'));
    const analytics = await openAnalytics({ clickhouse: null, dataDir });
    await migrate(analytics);
    return { analytics, dataDir };
  })();
  return store;
}

/** The api and its dashboard, with the SQL service unless `withSql` is false. */
export async function startSqlApp(options: { withSql?: boolean } = {}): Promise<SqlApp> {
  const { analytics, dataDir } = await sharedStore();
  const sql = options.withSql === false ? null : createSqlService({ analytics, config: { clickhouse: null, dataDir, sql: LIMITS } });
  const warn = () => undefined;
  const server = createApiApp({ analytics, token: TOKEN, ...(sql && { sql }), dashboard: { access: { token: TOKEN }, warn } }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sql?.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    base,
    analytics,
    sql,
    signedOut: () => session(base, '', '/sql'),
    signIn: () => signIn(base, TOKEN, '/sql'),
  };
}

/** ClickHouse's DateTime64 text of an instant (UTC). */
const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/**
 * Requests from `ip` as the sink stores them: one per entry of `paths`, a minute apart, the
 * last a minute before `now`; every third a 404; `userAgent` on each.
 */
export async function storeRequests(analytics: Analytics, ip: string, tag: string, paths: string[], userAgent = 'Mozilla/5.0', now = Date.now()): Promise<void> {
  const base = { ip_anonymisation: 'off', app: 'shop', instance: 't', method: 'GET', host: 'shop.example', latency_ms: 3, bytes: 100, referer: '', user_id: null, authenticated: false, blocked: false, rate_limited: false, login: 'none', login_user: null, country: 'FR', region: '', city: '', asn: 16276, org: 'OVH', geo_source: 'none', log_epoch: tag, kafka_partition: 0 };
  const values = paths.map((path, i) => {
    const ts = chTime(now - 60_000 * (paths.length - i));
    return { ...base, ts, enriched_at: ts, event_id: `${tag}-${i}`, ip: `::ffff:${ip}`, path, status: i % 3 === 2 ? 404 : 200, user_agent: userAgent, kafka_offset: i };
  });
  await analytics.client.insert({ table: 'requests', format: 'JSONEachRow', values });
}

/** Rows of a table, counted on the pipeline's session. */
export async function countRows(analytics: Analytics, table: 'requests' | 'block_events'): Promise<number> {
  const rows = await (await analytics.client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })).json<{ n: string | number }>();
  return Number(rows[0]?.n ?? 0);
}
