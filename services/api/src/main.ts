/** The api service as a process of its own, or as part of the embedded `ipwatch dev`. */
import type { AddressInfo } from 'node:net';
import type { ServiceContext, RunningService } from '@ipwatch/core/service';
import type { IpwatchMetrics } from '@ipwatch/core/observability/metrics';
import { PortInUseError } from '@ipwatch/core/observability/server';
import { IpwatchError } from '@ipwatch/core/errors';
import type { AnalyticsStore } from '@ipwatch/store';
import { createApiApp } from './apiServer.ts';
import { AUTH_REFUSALS } from './authentication.ts';
import { openListsView } from './listsView.ts';
import { createListChanges } from './listChanges.ts';
import { openRulesState } from './rulesApi.ts';
import { createPrivacyService } from './privacy/service.ts';
import { createSqlService } from './sql/service.ts';
import { hostname } from 'node:os';
import { ipwatch, createRateLimiter } from '@ipwatch/emitter';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface ApiService extends RunningService {
  readonly port: number;
  readonly url: string;
}

export interface ApiServiceOptions {
  /** Extra facts for GET /api/status. */
  extraStatus?: () => Record<string, unknown>;
  /** Where the api's own metrics go: the registry its /metrics serves (default ctx.metrics('api')). */
  metrics?: IpwatchMetrics;
}

export async function startApiService(ctx: ServiceContext, analytics: AnalyticsStore, options: ApiServiceOptions = {}): Promise<ApiService> {
  const { host, port, token, scorerToken } = ctx.config.api;
  const { extraStatus, metrics = ctx.metrics('api') } = options;
  if (!token && !LOOPBACK.has(host)) {
    throw new IpwatchError('IPWATCH_CONFIG_INVALID', `the api would listen on ${host} without a token: set IPWATCH_API_TOKEN (the CLI sends it too), or listen on 127.0.0.1`);
  }
  // The lists as the compacted topics hold them: read to the end before answering, so a
  // listing right after start is complete.
  const view = await openListsView(ctx.log, ctx.warn);
  await view.ready;
  // The detection rules likewise: the scorer follows the same topic.
  const rules = openRulesState({ log: ctx.log, warn: ctx.warn, metrics });
  await rules.book.ready;
  const changes = createListChanges({ log: ctx.log, view, analytics, warn: ctx.warn, blockScope: ctx.config.blocks });
  const authRefusals = metrics.counter({
    name: 'ipwatch_api_auth_refusals_total',
    help: 'Requests the api refused before any route: a wrong or missing token, or a client throttled after too many wrong ones. Unit: requests.',
    labelNames: ['reason'],
  });
  // Every reason from the start, so a rate() over it has a first sample.
  for (const reason of AUTH_REFUSALS) authRefusals.inc({ reason }, 0);
  const signInFailures = metrics.counter({
    name: 'ipwatch_dashboard_sign_in_failures_total',
    help: 'Dashboard sign-ins with a wrong token. Each is also a failed login in the request log (app ipwatch-dashboard), which the detection rules see.',
  });
  // ipwatch watches its own dashboard: its requests go to the request log like any app's, a
  // failed sign-in is a failed login (login-failures and credential-stuffing see it), and the
  // sign-in is rate-limited by ipwatch's own limiter (shared through Redis when configured).
  const rateLimiter = createRateLimiter({
    ...(ctx.config.redis ? { store: ctx.config.redis.url } : {}),
    keyPrefix: 'ipwatch:rl:dashboard:',
    // The sign-in only: the pages themselves are not limited (an operator clicks a lot).
    rules: { anonymous: false, authenticated: false, login: { rate: '10/5m', paths: ['/login'] } },
  });
  const tracker = ipwatch({ log: ctx.log, app: 'ipwatch-dashboard', instance: hostname(), rateLimiter, rateLimitAt: 'mounted', login: { paths: ['/login'] } });
  const privacy = createPrivacyService({ analytics, config: ctx.config, view });
  const sql = createSqlService({ analytics, config: ctx.config });
  const app = createApiApp({
    analytics,
    privacy,
    sql,
    token,
    scorerToken,
    onAuthRefusal: (reason) => authRefusals.inc({ reason }),
    lists: { view, changes },
    rules: { rules, log: ctx.log, warn: ctx.warn },
    status: () => ({ mode: { eventLog: ctx.log.kind, analytics: analytics.engine }, ...(extraStatus?.() ?? {}) }),
    dashboard: {
      access: {
        token,
        onSignInFailed: (client) => {
          signInFailures.inc();
          ctx.warn(`dashboard: a wrong token was given to sign in, from ${client}`);
        },
      },
      log: ctx.log,
      warn: ctx.warn,
      emitter: { track: tracker, limit: tracker.limit() },
    },
  });
  const server = app.listen(port, host);
  try {
    // Not events.once(server, 'listening'): that rejects with the bare error first.
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'EADDRINUSE'
            ? new PortInUseError(`the api cannot listen on ${host}:${port}: the port is in use. Is another ipwatch running? Set IPWATCH_API_PORT to another port.`, { cause: e })
            : new Error(`the api cannot listen on ${host}:${port}: ${e.message}`, { cause: e }),
        );
      });
    });
  } catch (err) {
    // What started before the listen (the lists view's readers) must not hold the process open.
    server.close();
    await view.stop();
    await rules.stop();
    await tracker.close();
    await rateLimiter.close();
    throw err;
  }
  const actual = (server.address() as AddressInfo).port;
  const unregister = ctx.health.register('api', () => ({ state: server.listening ? 'ok' : 'error' }));
  return {
    name: 'api',
    port: actual,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    stop: async () => {
      unregister();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await view.stop();
      await rules.stop();
      await tracker.close();
      await rateLimiter.close();
      await privacy.close();
      await sql.close();
    },
  };
}
