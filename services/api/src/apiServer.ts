/**
 * The JSON API (and, later, the dashboard): what the CLI and people talk to. The request log
 * (read-only), and the block list and allowlist (read and change). Every filter is parsed
 * into typed values before it reaches SQL; every change is validated before it reaches Kafka.
 * The routes live on one router served at /api/v1 (described by v1/openapi.ts) and, deprecated,
 * at the unversioned /api of before v1 (v1/versioning.ts).
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import { FilterError, parseRequestFilter, type AnalyticsStore, type RequestFilterInput } from '@ipwatch/store';
import { DecisionInputError, parseBlockTarget, refusePort } from '@ipwatch/core/blockTarget';
import { IpwatchError, isIpwatchError } from '@ipwatch/core/errors';
import { canonicalIp, cidrContains, parseCidr, parseIp } from '@ipwatch/core/ip';
import type { ListName } from '@ipwatch/core/sharedLists';
import type { PrivacyService } from './privacy/service.ts';
import type { SqlService } from './sql/service.ts';
import type { ListsView } from './listsView.ts';
import { type ListChanges, type ChangeInput, type ImportInput } from './listChanges.ts';
import { authenticate, callerOf, type AuthRefusal } from './authentication.ts';
import type { FailedAuthThrottleOptions } from './failedAuthThrottle.ts';
import { readQuery } from './queryParameters.ts';
import { rulesRouter, type RulesApiOptions } from './rulesApi.ts';
import { privacyRouter } from './privacy/routes.ts';
import { sqlRouter } from './sql/routes.ts';
import { analysisHandler } from './analysis.ts';
import { dailyReportHandler } from './reportsApi.ts';
import { API_V1 } from './v1/openapi.ts';
import { deprecatedAlias, openApiHandler, unknownEndpoint } from './v1/versioning.ts';
import { trafficViewsRouter } from './v1/trafficViews.ts';
import { dashboardRouter, type DashboardOptions } from './dashboard/router.ts';

export interface ApiOptions {
  analytics: AnalyticsStore;
  /** The operators' token (IPWATCH_API_TOKEN, `secret` or `name:secret`), required on /api; null allows loopback requests only, as `local`. */
  token: string | null;
  /** The scorer's token (IPWATCH_SCORER_TOKEN): the only caller that may block with a rule's name as source. */
  scorerToken?: string | null;
  /** How wrong tokens are slowed down (default: 10 a minute per client). */
  authThrottle?: FailedAuthThrottleOptions;
  /** Told of every refused token or throttled request (the api's metric). */
  onAuthRefusal?: (reason: AuthRefusal) => void;
  /** Extra facts for GET /api/status (mode, versions). */
  status?: () => Record<string, unknown>;
  /** The block list and allowlist: listing and changing them. Without it those endpoints answer 503. */
  lists?: { view: ListsView; changes: ListChanges };
  /** The detection rules: listing and changing them (rulesApi.ts). Without it those endpoints answer 503. */
  rules?: RulesApiOptions;
  /** Export, erasure and the audit log (privacy/service.ts). Without it those endpoints answer 503. */
  privacy?: PrivacyService;
  /** Analysts' read-only SQL (sql/service.ts). Without it POST /sql answers 503. */
  sql?: SqlService;
  /** The dashboard (dashboard/router.ts), served beside /api; absent: JSON only. */
  dashboard?: Omit<DashboardOptions, 'analytics' | 'lists' | 'rules' | 'now'>;
  now?: () => number;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * What a failed request answers: ours with their registry code and status; express.json's
 * refusals (bad JSON, too large) as coded errors; anything else 500 with a generic message.
 */
function answerFor(err: unknown): IpwatchError {
  if (isIpwatchError(err)) return err;
  const { status, message } = err as { status?: unknown; message?: unknown };
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'IPWATCH_BODY_TOO_LARGE' : status === 415 ? 'IPWATCH_NOT_JSON' : 'IPWATCH_BAD_BODY';
    return new IpwatchError(code, `the request body was refused: ${String(message)}`, { cause: err });
  }
  // Logged, not echoed: a ClickHouse error may quote the query.
  return new IpwatchError('IPWATCH_INTERNAL', 'the api failed (internal error); its log has the cause', { cause: err });
}

/**
 * @example
 * const app = createApiApp({ analytics, token: config.api.token });
 * app.listen(config.api.port, config.api.host);
 */
export function createApiApp(options: ApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use('/api', (req: Request, _res: Response, next: NextFunction) => {
    // The CLI sends no Origin; a browser does. Only pages of the api's own origin get through.
    const origin = req.get('origin');
    if (origin !== undefined && !sameOrigin(origin, req.get('host'))) {
      throw new IpwatchError('IPWATCH_CROSS_ORIGIN', 'cross-origin requests are refused: the api is for the CLI and the dashboard it serves');
    }
    next();
  });
  // The document holds nothing secret: no token asked for (the loopback-Host rule still applies).
  app.get(`${API_V1}/openapi.json`, openApiHandler({ token: options.token }));
  // Tokens, the loopback-Host rule and the caller every change is recorded under: authentication.ts.
  app.use('/api', authenticate({ token: options.token, scorerToken: options.scorerToken ?? null, ...(options.authThrottle && { throttle: options.authThrottle }), ...(options.onAuthRefusal && { onRefusal: options.onAuthRefusal }) }));

  // One router, mounted at /api/v1 and (deprecated) at /api: the same handlers either way.
  const api = express.Router();
  /** What the caller asked, as messages name it: `GET /api/v1/requests` (or the unversioned path it used). */
  const endpoint = (req: Request, path: string) => `${req.method} ${req.baseUrl}${path}`;

  api.get('/status', (req, res) => {
    readQuery(req.query, [], endpoint(req, '/status'));
    res.json({ ok: true, ...(options.status?.() ?? {}) });
  });

  api.get('/requests', async (req, res, next) => {
    try {
      const input: RequestFilterInput = readQuery(req.query, ['ip', 'path', 'status', 'country', 'since', 'until', 'limit'], endpoint(req, '/requests'));
      const filter = parseRequestFilter(input);
      const [rows, total] = await Promise.all([options.analytics.listRequests(filter), options.analytics.countRequests(filter)]);
      res.json({ total, rows });
    } catch (err) {
      next(err);
    }
  });

  const now = options.now ?? Date.now;
  const lists = options.lists;
  // JSON only: a cross-site form post (text/plain, form-encoded) is refused before it can change a list.
  const jsonBody = express.json({ limit: '16kb', strict: true, type: 'application/json' });
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) {
      throw new IpwatchError('IPWATCH_NOT_JSON', 'send the change as JSON (Content-Type: application/json)');
    }
    next();
  };
  const requireLists = (_req: Request, _res: Response, next: NextFunction) => {
    if (!lists) {
      throw new IpwatchError('IPWATCH_LISTS_UNAVAILABLE', 'this api runs without the event log, so it cannot list or change blocks: use the api of `ipwatch dev` or `ipwatch run api`');
    }
    next();
  };

  const listRoutes = (path: string, list: ListName, add: keyof ListChanges, remove: keyof ListChanges) => {
    api.get(path, requireLists, (req, res) => {
      const q = readQuery(req.query, ['expired', 'covers', 'limit'], endpoint(req, path));
      if (q.expired !== undefined && q.expired !== 'true' && q.expired !== 'false') throw new FilterError(`expired ${JSON.stringify(q.expired.slice(0, 20))} must be true or false`);
      const includeExpired = q.expired === 'true';
      const limitText = q.limit;
      const limit = limitText === undefined ? 1000 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) throw new FilterError('limit must be a whole number from 1 to 1000000');
      // covers=IP: the entries that apply to that address (the address itself and every range holding it).
      const coversText = q.covers;
      if (coversText !== undefined) refusePort(coversText);
      if (coversText?.includes('/')) throw new FilterError(`covers takes one IP address, not a range (${JSON.stringify(coversText.slice(0, 64))})`);
      const covers = coversText === undefined ? null : parseIp(canonicalIp(coversText) ?? '');
      if (coversText !== undefined && covers === null) throw new FilterError(`covers takes one IP address, e.g. 203.0.113.7; ${JSON.stringify(coversText.slice(0, 64))} is not one`);
      const t = now();
      const matching = lists!.view
        .all(list)
        .filter((r) => includeExpired || r.expiresAt === null || r.expiresAt > t)
        .filter((r) => covers === null || cidrContains(parseCidr(r.target), covers))
        .sort((a, b) => b.createdAt - a.createdAt);
      const rows = matching
        .slice(0, limit)
        .map((r) => ({ ...r, expired: r.expiresAt !== null && r.expiresAt <= t, timeLeftMs: r.expiresAt === null ? null : Math.max(0, r.expiresAt - t) }));
      res.json({ total: matching.length, rows });
    });
    api.post(path, requireLists, requireJson, jsonBody, async (req, res, next) => {
      try {
        const body = (req.body ?? {}) as ChangeInput;
        if (typeof body !== 'object' || Array.isArray(body)) throw new DecisionInputError('the body must be a JSON object like {"target":"203.0.113.7"}');
        const result = await lists!.changes[add](body, callerOf(res));
        res.status(result.replaced ? 200 : 201).json(result);
      } catch (err) {
        next(err);
      }
    });
    api.delete(path, requireLists, async (req, res, next) => {
      try {
        const result = await lists!.changes[remove](readQuery(req.query, ['target', 'reason', 'actor'], endpoint(req, path)), callerOf(res));
        res.json(result);
      } catch (err) {
        next(err);
      }
    });
  };
  api.post('/blocks/import', requireLists, requireJson, express.json({ limit: '8mb', strict: true, type: 'application/json' }), async (req, res, next) => {
    try {
      res.status(201).json(await lists!.changes.importBlocks((req.body ?? {}) as ImportInput, callerOf(res)));
    } catch (err) {
      next(err);
    }
  });
  listRoutes('/blocks', 'blocks', 'block', 'unblock');
  listRoutes('/allowlist', 'allow', 'allow', 'unallow');

  api.get('/block-events', async (req, res, next) => {
    try {
      const { target, limit: limitText } = readQuery(req.query, ['target', 'limit'], endpoint(req, '/block-events'));
      const limit = limitText === undefined ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new FilterError('limit must be a whole number from 1 to 10000');
      res.json({ rows: await options.analytics.listBlockEvents({ limit, ...(target === undefined ? {} : { target: parseBlockTarget(target) }) }) });
    } catch (err) {
      next(err);
    }
  });

  api.get('/clients/:ip/analysis', analysisHandler({ analytics: options.analytics, ...(lists && { view: lists.view }), now }));

  api.get('/reports/daily', dailyReportHandler({ analytics: options.analytics, now }));

  api.use('/rules', rulesRouter(options.rules && { now, ...options.rules }));

  api.use('/privacy', privacyRouter(options.privacy));

  api.use('/sql', sqlRouter(options.sql));

  // The dashboard's views came with v1: served under /api/v1 only.
  app.use(API_V1, api, trafficViewsRouter({ analytics: options.analytics, now }));
  // The paths of before v1 keep answering, marked deprecated with their successor.
  app.use('/api', deprecatedAlias(api));
  app.use('/api', unknownEndpoint);

  if (options.dashboard) {
    app.use(dashboardRouter({ ...options.dashboard, analytics: options.analytics, now, ...(lists && { lists }), ...(options.rules && { rules: { now, ...options.rules } }), ...(options.privacy && { privacy: options.privacy }), ...(options.sql && { sql: options.sql }) }));
  }

  // The one place errors become answers: {error, code} with the registry's status.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const answer = answerFor(err);
    res.status(answer.status).json({ error: answer.message, code: answer.code });
    // 500 is a failure to look into (503 is a known state, 4xx the caller's mistake).
    if (answer.status === 500) process.stderr.write(`api: ${(err as Error).stack ?? String(err)}\n`);
  });
  return app;
}
