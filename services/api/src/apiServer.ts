/**
 * The JSON API (and, later, the dashboard): what the CLI and people talk to. Read-only over
 * the request log for now. Every filter is parsed into typed values before it reaches SQL.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import express, { type Request, type Response, type NextFunction } from 'express';
import { FilterError, listRequests, countRequests, parseRequestFilter, type Analytics, type RequestFilterInput } from '@ipwatch/store';

export interface ApiOptions {
  analytics: Analytics;
  /** Bearer token required on /api; null allows anyone who can connect (loopback-only deployments). */
  token: string | null;
  /** Extra facts for GET /api/status (mode, versions). */
  status?: () => Record<string, unknown>;
}

const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;

const digest = (s: string) => createHash('sha256').update(s).digest();

function one(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) throw new FilterError('each filter may be given once');
  if (value === undefined) return undefined;
  throw new FilterError('filters must be plain values');
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
  const expected = options.token ? digest(options.token) : null;

  app.use('/api', (req: Request, res: Response, next: NextFunction) => {
    if (!expected) {
      // No token means loopback only. Checking Host too stops a web page that points its own
      // name at 127.0.0.1 (DNS rebinding) from reading the API through the user's browser.
      if (LOOPBACK_HOST.test(req.get('host') ?? '')) return next();
      res.status(403).json({ error: 'without IPWATCH_API_TOKEN the api answers only requests addressed to 127.0.0.1, localhost or [::1]' });
      return;
    }
    const header = req.get('authorization') ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Compare digests so the comparison takes the same time whatever the token's length.
    if (given && timingSafeEqual(digest(given), expected)) return next();
    res.status(401).json({ error: 'missing or wrong API token: send "Authorization: Bearer <IPWATCH_API_TOKEN>"' });
  });

  app.get('/api/status', (_req, res) => {
    res.json({ ok: true, ...(options.status?.() ?? {}) });
  });

  app.get('/api/requests', async (req, res, next) => {
    try {
      const q = req.query as Record<string, unknown>;
      const input: RequestFilterInput = {
        ip: one(q.ip), path: one(q.path), status: one(q.status), country: one(q.country),
        since: one(q.since), until: one(q.until), limit: one(q.limit),
      };
      const filter = parseRequestFilter(input);
      const [rows, total] = await Promise.all([listRequests(options.analytics, filter), countRequests(options.analytics, filter)]);
      res.json({ total, rows });
    } catch (err) {
      next(err);
    }
  });

  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such API endpoint: try GET /api/requests or GET /api/status' });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof FilterError) {
      res.status(400).json({ error: err.message });
      return;
    }
    res.status(500).json({ error: 'internal error; see the api service log' });
    // Logged, not echoed: a ClickHouse error may quote the query.
    process.stderr.write(`api: ${(err as Error).stack ?? String(err)}\n`);
  });
  return app;
}
