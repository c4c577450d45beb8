/**
 * For the privacy pages' tests: the api with its dashboard and the real privacy service
 * (createPrivacyService, as main.ts builds it) over chDB, the lists on the in-process event
 * log, with a sign-in token, on a free loopback port (closed when the test ends); a signed-in
 * browser-like session (the cookie, the page's form token, same-origin posts); and a few rows
 * stored about a client as the sink would.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import type { Analytics } from '@ipwatch/store';
import { createApiApp } from '../../apiServer.ts';
import { openListsView, type ListsView } from '../../listsView.ts';
import { createListChanges, type ListChanges } from '../../listChanges.ts';
import { createPrivacyService, type PrivacyService } from '../../privacy/service.ts';
import { testAnalytics } from '../../../../../test/support/analytics.ts';
import { afterThisTest } from '../../../../../test/support/afterThisTest.ts';
import { session, signIn, type Session } from './signedInSession.ts';

export type { Answer, Session } from './signedInSession.ts';

export const TOKEN = 'ops:privacy-pages-test-secret-0123456789';

export interface PrivacyApp {
  base: string;
  analytics: Analytics;
  log: EventLog;
  view: ListsView;
  changes: ListChanges;
  privacy: PrivacyService;
  /** A session signed in with the token. */
  signIn(): Promise<Session>;
  /** No cookie at all. */
  signedOut(): Session;
}

export async function startPrivacyApp(): Promise<PrivacyApp> {
  const log = createMemoryEventLog();
  const warn = () => undefined;
  const view = await openListsView(log, warn);
  await view.ready;
  const analytics = await testAnalytics();
  const changes = createListChanges({ log, view, analytics, warn });
  const privacy = createPrivacyService({ analytics, config: loadConfig({}), view });
  const server = createApiApp({ analytics, token: TOKEN, lists: { view, changes }, privacy, dashboard: { access: { token: TOKEN }, warn, log } }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await privacy.close();
    await view.stop();
    await log.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    base,
    analytics,
    log,
    view,
    changes,
    privacy,
    signedOut: () => session(base, '', '/privacy'),
    signIn: () => signIn(base, TOKEN, '/privacy'),
  };
}

const REQUEST_COLUMNS = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'country', 'region', 'city', 'asn', 'org', 'login', 'login_user', 'user_id', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;

/**
 * `count` requests from `ip` (one a minute, ending a minute ago), the first a failed login as
 * `user`, and one detection of it, as the sink stores them; returns nothing (rows are counted back).
 */
export async function storeClient(analytics: Analytics, ip: string, tag: string, options: { count?: number; user?: string; userAgent?: string } = {}): Promise<void> {
  const now = Date.now();
  const count = options.count ?? 5;
  const rows = Array.from({ length: count }, (_, i) => [
    `${tag}-${i}`,
    now - 60_000 * (i + 1),
    `::ffff:${ip}`,
    'shop',
    i === 0 ? 'POST' : 'GET',
    'shop.example',
    i === 0 ? '/login' : `/products/${i}`,
    i === 0 ? 401 : 200,
    3,
    options.userAgent ?? 'Mozilla/5.0',
    'FR',
    'IDF',
    'Paris',
    16276,
    'OVH',
    i === 0 ? 'failed' : 'none',
    i === 0 ? (options.user ?? null) : null,
    options.user ?? '',
    tag,
    0,
    i,
  ]);
  await analytics.insertStreamRows({ table: 'requests', columns: REQUEST_COLUMNS, rows, deduplicationToken: tag });
  await analytics.insertStreamRows({
    table: 'detections',
    columns: ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [[`${tag}-d`, now - 60_000, `::ffff:${ip}`, ip, 'sensitive-files', 'high', 'live', 1, 2, 1, now - 600_000, now - 60_000, { paths: '/.env' }, 'block', now + 3_600_000, 1, `${tag}-d`, 0, 0]],
    deduplicationToken: `${tag}-d`,
  });
}

/** Rows stored about an address in the requests and detections tables, counted in ClickHouse. */
export async function countRows(analytics: Analytics, ip: string): Promise<{ requests: number; detections: number }> {
  const count = async (table: string) => {
    const rows = await (await analytics.client.query({ query: `SELECT count() AS n FROM ${table} WHERE ip = toIPv6({ip:String})`, query_params: { ip: `::ffff:${ip}` }, format: 'JSONEachRow' })).json<{ n: string | number }>();
    return Number(rows[0]?.n ?? 0);
  };
  return { requests: await count('requests'), detections: await count('detections') };
}
