/**
 * The privacy operations through the api (under /api/v1/privacy): export everything stored
 * about an address, a range or a user (JSON, or one CSV file), erase it, and read the audit
 * log and the erasures stopped half-way. What `ipwatch privacy` calls. The api's token guards
 * them like every /api route; the act is recorded under the authenticated caller, never under
 * a name the body gives. Answers hold personal data: never cached.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { exportToCsv, FilterError, type AuditAction } from '@ipwatch/store';
import { callerOf } from '../authentication.ts';
import { readQuery, refuseUnknownNames } from '../queryParameters.ts';
import type { PrivacyRequest, PrivacyService } from './service.ts';

/** The body fields each operation takes; anything else is refused, naming it. */
export const EXPORT_FIELDS = ['ip', 'user', 'force', 'format'] as const;
export const ERASE_FIELDS = ['ip', 'user', 'force'] as const;
export const EXPORT_FORMATS = ['json', 'csv'] as const;
export const AUDIT_ACTIONS: readonly AuditAction[] = ['export', 'erase', 'query'];
export const MAX_AUDIT_LIMIT = 10_000;
/** Longest `ip` taken: an IPv6 CIDR is at most 43 characters. */
const MAX_IP_LENGTH = 64;

const shown = (v: unknown) => JSON.stringify(String(v).slice(0, 64));

/** The body's subject and force, each of its type (the service parses and guards the subject). */
function readRequest(body: Record<string, unknown>, where: string): PrivacyRequest {
  const bad = (field: string, what: string) => new IpwatchError('IPWATCH_USAGE', `${where}: ${field} must be ${what}`);
  const out: PrivacyRequest = {};
  if (body.ip !== undefined) {
    if (typeof body.ip !== 'string' || body.ip.length > MAX_IP_LENGTH) throw bad('ip', 'an IP address or CIDR as text, e.g. "203.0.113.7" or "203.0.113.0/24"');
    out.ip = body.ip;
  }
  if (body.user !== undefined) {
    if (typeof body.user !== 'string') throw bad('user', 'the user id as text, as the app reports it');
    out.user = body.user;
  }
  if (body.force !== undefined) {
    if (typeof body.force !== 'boolean') throw bad('force', 'true or false');
    out.force = body.force;
  }
  return out;
}

/**
 * The routes under /privacy. Without a service (an api made without one) each answers 503.
 *
 * @example
 * api.use('/privacy', privacyRouter(options.privacy));
 */
export function privacyRouter(privacy: PrivacyService | undefined): Router {
  const router = express.Router();
  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (!privacy) {
      throw new IpwatchError('IPWATCH_PRIVACY_UNAVAILABLE', 'this api was started without the privacy service, so it cannot export or erase: use the api of `ipwatch dev`, `npm start` or `ipwatch run api`');
    }
    // Every answer here is about a person, or about who asked about one.
    res.set('Cache-Control', 'no-store');
    next();
  });
  const service = privacy as PrivacyService;
  const endpoint = (req: Request, path: string) => `${req.method} ${req.baseUrl}${path}`;
  // JSON only: a cross-site form post (text/plain, form-encoded) is refused before it can erase anything.
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) throw new IpwatchError('IPWATCH_NOT_JSON', 'send the request as JSON (Content-Type: application/json), e.g. {"ip":"203.0.113.7"}');
    next();
  };
  const jsonBody = express.json({ limit: '16kb', strict: true, type: 'application/json' });
  const bodyOf = (req: Request, path: string, fields: readonly string[]): Record<string, unknown> => {
    const where = endpoint(req, path);
    readQuery(req.query, [], where);
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new IpwatchError('IPWATCH_BAD_BODY', `${where}: the body must be one JSON object, e.g. {"ip":"203.0.113.7"} or {"user":"alice"}`);
    refuseUnknownNames(Object.keys(body), fields, where, 'field');
    return body as Record<string, unknown>;
  };

  router.post('/export', requireJson, jsonBody, async (req, res) => {
    const body = bodyOf(req, '/export', EXPORT_FIELDS);
    const format = body.format ?? 'json';
    if (!(EXPORT_FORMATS as readonly unknown[]).includes(format)) throw new IpwatchError('IPWATCH_USAGE', `${endpoint(req, '/export')}: format ${shown(format)} must be json or csv`);
    const exported = await service.export(readRequest(body, endpoint(req, '/export')), callerOf(res).name);
    if (format === 'json') return void res.json(exported);
    // The file's name holds the audit id, never the subject: it ends up in download folders and logs.
    res.set('Content-Disposition', `attachment; filename="ipwatch-export-${exported.auditId}.csv"`);
    res.set('X-Ipwatch-Audit-Id', exported.auditId);
    res.type('text/csv; charset=utf-8').send(exportToCsv(exported));
  });

  router.post('/erase', requireJson, jsonBody, async (req, res) => {
    const body = bodyOf(req, '/erase', ERASE_FIELDS);
    // Nothing found is an answer (nothingFound: true), not an error.
    res.json(await service.erase(readRequest(body, endpoint(req, '/erase')), callerOf(res).name));
  });

  router.get('/audit', async (req, res) => {
    const q = readQuery(req.query, ['limit', 'action'], endpoint(req, '/audit'));
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw new FilterError(`limit must be a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
    if (q.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(q.action)) throw new FilterError(`action ${shown(q.action)} must be one of ${AUDIT_ACTIONS.join(', ')}`);
    res.json({ rows: await service.audit({ limit, ...(q.action !== undefined && { action: q.action as AuditAction }) }) });
  });

  router.get('/pending', async (req, res) => {
    readQuery(req.query, [], endpoint(req, '/pending'));
    res.json({ rows: await service.pending() });
  });

  return router;
}
