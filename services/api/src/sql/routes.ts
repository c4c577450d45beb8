/**
 * Analysts' SQL through the api (POST /api/v1/sql): one read-only query against the store, run
 * by the SQL service (sql/service.ts) with ClickHouse's own guards, the answer as JSON or CSV.
 * What `ipwatch sql` calls. The api's token guards it like every /api route; the query is
 * recorded in the audit log under the authenticated caller. Answers may hold personal data:
 * never cached.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { MAX_SQL_LENGTH, sqlResultToCsv } from '@ipwatch/store';
import { callerOf } from '../authentication.ts';
import { readQuery, refuseUnknownNames } from '../queryParameters.ts';
import type { SqlService } from './service.ts';

/** The body fields POST /sql takes; anything else is refused, naming it. */
export const SQL_FIELDS = ['query', 'format'] as const;
export const SQL_FORMATS = ['json', 'csv'] as const;
/** Largest body taken: a query of MAX_SQL_LENGTH characters, JSON-escaped, fits. */
export const SQL_BODY_LIMIT = '256kb';

const shown = (v: unknown) => JSON.stringify(String(v).slice(0, 64));

/**
 * The route at /sql. Without a service (an api made without one) it answers 503.
 *
 * @example
 * api.use('/sql', sqlRouter(options.sql));
 */
export function sqlRouter(sql: SqlService | undefined): Router {
  const router = express.Router();
  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (!sql) {
      throw new IpwatchError('IPWATCH_SQL_UNAVAILABLE', 'this api was started without the SQL service, so it cannot run queries: use the api of `ipwatch dev`, `npm start` or `ipwatch run api`');
    }
    // A result may hold addresses, user ids, paths: never kept by a cache.
    res.set('Cache-Control', 'no-store');
    next();
  });
  const service = sql as SqlService;
  const where = (req: Request) => `${req.method} ${req.baseUrl}`;
  // JSON only: a cross-site form post (text/plain, form-encoded) is refused before it runs anything.
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) throw new IpwatchError('IPWATCH_NOT_JSON', 'send the query as JSON (Content-Type: application/json), e.g. {"query":"SELECT count() FROM requests WHERE ts > now() - INTERVAL 1 HOUR"}');
    next();
  };

  router.post('/', requireJson, express.json({ limit: SQL_BODY_LIMIT, strict: true, type: 'application/json' }), async (req, res) => {
    readQuery(req.query, [], where(req));
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new IpwatchError('IPWATCH_BAD_BODY', `${where(req)}: the body must be one JSON object, e.g. {"query":"SELECT 1"}`);
    refuseUnknownNames(Object.keys(body), SQL_FIELDS, where(req), 'field');
    const { query, format = 'json' } = body as { query?: unknown; format?: unknown };
    if (typeof query !== 'string' || query.trim() === '') throw new IpwatchError('IPWATCH_USAGE', `${where(req)}: query must be the SQL as text, e.g. {"query":"SELECT count() FROM requests WHERE ts > now() - INTERVAL 1 HOUR"}`);
    if (query.length > MAX_SQL_LENGTH) throw new IpwatchError('IPWATCH_USAGE', `${where(req)}: the query is ${query.length} characters long; at most ${MAX_SQL_LENGTH} are taken`);
    if (!(SQL_FORMATS as readonly unknown[]).includes(format)) throw new IpwatchError('IPWATCH_USAGE', `${where(req)}: format ${shown(format)} must be json or csv`);

    const answer = await service.run(query, callerOf(res).name);
    if (format === 'json') return void res.json({ ...answer, limits: service.limits });
    res.set('Content-Disposition', `attachment; filename="ipwatch-sql-${answer.auditId}.csv"`);
    res.set('X-Ipwatch-Audit-Id', answer.auditId);
    res.type('text/csv; charset=utf-8').send(sqlResultToCsv(answer));
  });

  return router;
}
