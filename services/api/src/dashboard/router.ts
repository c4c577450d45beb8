/**
 * The dashboard, served by the api next to /api: server-rendered pages over the same store
 * queries and list changes as the JSON API, a sign-in, protection against cross-site
 * requests, and a Content Security Policy with no inline script. Each page is a module under
 * pages/ that registers its routes on the router given (see `DashboardDeps` for what a page
 * may use).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { EventLog } from '@ipwatch/core/eventLog';
import { isIpwatchError } from '@ipwatch/core/errors';
import type { AnalyticsStore } from '@ipwatch/store';
import type { ListsView } from '../listsView.ts';
import type { ListChanges } from '../listChanges.ts';
import type { RulesApiOptions } from '../rulesApi.ts';
import type { PrivacyService } from '../privacy/service.ts';
import type { SqlService } from '../sql/service.ts';
import { createAccess, localPath, type Access, type AccessOptions } from './access.ts';
import { errorPage } from './layout.ts';
import { html } from './html.ts';
import { registerOverview } from './pages/overview.ts';
import { registerRequests } from './pages/requests.ts';
import { registerDetections } from './pages/detections.ts';
import { registerRateLimits } from './pages/rateLimits.ts';
import { registerClient } from './pages/client.ts';
import { registerLists } from './pages/lists.ts';
import { registerRules } from './pages/rules.ts';
import { registerPrivacy } from './pages/privacy.ts';
import { registerSql } from './pages/sql.ts';

/** What pages may use. */
export interface DashboardDeps {
  analytics: AnalyticsStore;
  /** The block list and allowlist (absent when the api runs without the event log). */
  lists?: { view: ListsView; changes: ListChanges };
  /** The detection rules (absent likewise). */
  rules?: RulesApiOptions;
  /** The event log (the rules' what-if, live data); absent likewise. */
  log?: EventLog;
  /** Export, erasure and the audit log (absent: the privacy pages say so). */
  privacy?: PrivacyService;
  /** Analysts' read-only SQL (absent: the SQL page says so). */
  sql?: SqlService;
  now: () => number;
  warn: (message: string, err?: unknown) => void;
}

export interface DashboardOptions extends DashboardDeps {
  access: AccessOptions;
  /**
   * ipwatch's own emitter in front of the dashboard (its requests logged like any app's, the
   * sign-in's failures marked as failed logins) and its rate limiter, mounted after the body
   * parser so the sign-in limit applies. Absent in tests that do not need them.
   */
  emitter?: { track: RequestHandler; limit: RequestHandler };
}

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** The files under /assets: the project's own and its pinned dependencies' (no CDN). */
const ASSETS: Record<string, string> = {
  'dashboard.js': join(here, 'assets', 'dashboard.js'),
  'dashboard.css': join(here, 'assets', 'dashboard.css'),
  // Each page group's own rules (kept apart so the pages can change independently).
  'overview.css': join(here, 'assets', 'overview.css'),
  'log.css': join(here, 'assets', 'log.css'),
  'manage.css': join(here, 'assets', 'manage.css'),
  'sql.css': join(here, 'assets', 'sql.css'),
  'htmx.min.js': join(pkgDir('htmx.org'), 'dist', 'htmx.min.js'),
  'uPlot.iife.min.js': join(pkgDir('uplot'), 'dist', 'uPlot.iife.min.js'),
  'uPlot.min.css': join(pkgDir('uplot'), 'dist', 'uPlot.min.css'),
};

/** The SQL page's form: a query of MAX_SQL_LENGTH characters, percent-encoded (3 bytes a character at worst, more for non-ASCII text). */
const SQL_FORM_LIMIT = '400kb';

/** No inline script or style anywhere: pages carry data in attributes, dashboard.js draws. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
  });
  next();
}

/**
 * @example
 * app.use(dashboardRouter({ analytics, lists, rules, log, now, warn, access: { token } }));
 */
export function dashboardRouter(options: DashboardOptions): Router {
  const router = express.Router();
  const access: Access = createAccess(options.access);
  router.use(securityHeaders);
  router.get('/assets/:file', (req, res) => {
    const file = ASSETS[req.params.file];
    if (!file) {
      res.status(404).type('text').send('no such asset');
      return;
    }
    res.set('Cache-Control', 'public, max-age=3600');
    res.sendFile(file);
  });
  router.get('/favicon.ico', (_req, res) => void res.status(204).end());
  if (options.emitter) router.use(options.emitter.track);
  // Forms are small; the SQL page's posts a query (up to MAX_SQL_LENGTH characters, percent-encoded).
  const forms = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 });
  const sqlForm = express.urlencoded({ extended: false, limit: SQL_FORM_LIMIT, parameterLimit: 10 });
  router.use((req, res, next) => (req.path === '/sql' ? sqlForm : forms)(req, res, next));
  if (options.emitter) router.use(options.emitter.limit);
  router.use(access.sameSiteOnly);

  router.get('/login', (req, res) => {
    res.type('html').send(loginPage(localPath(req.query.next), access.tokenRequired ? null : 'No sign-in is needed: IPWATCH_API_TOKEN is not set.').toString());
  });
  router.post('/login', (req, res) => {
    const next = localPath((req.body as Record<string, unknown>)?.next);
    const wait = access.retryAfterSeconds(req);
    if (wait > 0) {
      res.set('Retry-After', String(wait));
      res.status(429).type('html').send(loginPage(next, `Too many wrong tokens from this address: wait ${wait} s, then try again.`).toString());
      return;
    }
    const token = (req.body as Record<string, unknown>)?.token;
    const caller = access.signIn(req, res, typeof token === 'string' ? token : '');
    if (!caller) {
      res.status(401).type('html').send(loginPage(next, 'Wrong token: sign in with the api\'s token (IPWATCH_API_TOKEN).').toString());
      return;
    }
    res.redirect(303, next);
  });
  router.post('/logout', (req, res) => {
    access.signOut(req, res);
    res.redirect(303, '/login');
  });

  const pages = express.Router();
  pages.use(access.requireViewer);
  const deps: DashboardDeps = { analytics: options.analytics, now: options.now, warn: options.warn, ...(options.lists && { lists: options.lists }), ...(options.rules && { rules: options.rules }), ...(options.log && { log: options.log }), ...(options.privacy && { privacy: options.privacy }), ...(options.sql && { sql: options.sql }) };
  registerOverview(pages, deps);
  registerRequests(pages, deps);
  registerDetections(pages, deps);
  registerRateLimits(pages, deps);
  registerClient(pages, deps);
  registerLists(pages, deps);
  registerRules(pages, deps);
  registerPrivacy(pages, deps);
  registerSql(pages, deps);
  router.use(pages);

  // Errors on pages become pages (the JSON API has its own handler under /api).
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (req.path.startsWith('/api')) return next(err);
    if ((err as { type?: unknown } | null)?.type === 'entity.too.large') {
      res.status(413).type('html').send(errorPage(`The form is larger than the dashboard takes (${req.path === '/sql' ? SQL_FORM_LIMIT : '32kb'}): shorten it and send it again.`, 'IPWATCH_BODY_TOO_LARGE').toString());
      return;
    }
    if (isIpwatchError(err)) {
      res.status(err.status).type('html').send(errorPage(err.message, err.code).toString());
      return;
    }
    options.warn('dashboard: a page failed', err);
    res.status(500).type('html').send(errorPage('The page failed (internal error); the api\'s log has the cause.', 'IPWATCH_INTERNAL').toString());
  });
  return router;
}

function loginPage(next: string, message: string | null) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · ipwatch</title><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body class="login"><main>
<h1>ipwatch</h1>
${message ? html`<p class="flash error" role="alert">${message}</p>` : ''}
<form method="post" action="/login">
  <input type="hidden" name="next" value="${next}">
  <label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <button type="submit" class="primary">Sign in</button>
</form>
<p class="hint">The token is IPWATCH_API_TOKEN's secret (or its whole name:secret).</p>
</main></body></html>`;
}
