/**
 * How API v1 sits beside the routes of before it: the same router serves /api/v1/... and the
 * unversioned /api/..., which answer as before but say they are deprecated and where they
 * moved (Deprecation and Link: rel="successor-version"). Also the OpenAPI document's route,
 * and the answer for a path that no route serves, which lists v1's endpoints.
 */
import express, { type Request, type RequestHandler, type Response, type NextFunction, type Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { isLoopbackHost } from '@ipwatch/core/hostGuard';
import { API_V1, OPENAPI } from './openapi.ts';

/** Characters a Link target keeps as they are (RFC 3986 path characters and %); anything else is percent-encoded. */
const UNSAFE_IN_LINK = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu;

/**
 * The successor of an unversioned path: the same path under /api/v1, safe inside `<...>` of a
 * Link header whatever the client sent (no `>`, quote, space or line break gets through).
 *
 * @example
 * successorOf('/blocks'); // '/api/v1/blocks'
 */
export function successorOf(path: string): string {
  return `${API_V1}${path.replace(UNSAFE_IN_LINK, (c) => encodeURIComponent(c))}`;
}

/**
 * The routes of `api` under the unversioned /api, for the clients of before v1: each answer
 * carries `Deprecation: true` and `Link: </api/v1/...>; rel="successor-version"`. Paths under
 * /api/v1 are left to the routes after it (v1 answered them already, or they are unknown).
 *
 * @example
 * app.use('/api/v1', api);
 * app.use('/api', deprecatedAlias(api));
 */
export function deprecatedAlias(api: Router): Router {
  const legacy = express.Router();
  legacy.use((req: Request, res: Response, next: NextFunction) => {
    if (req.path === '/v1' || req.path.startsWith('/v1/')) return next('router');
    res.set('Deprecation', 'true');
    res.set('Link', `<${successorOf(req.path)}>; rel="successor-version"`);
    next();
  });
  legacy.use(api);
  return legacy;
}

/**
 * GET /api/v1/openapi.json. It holds nothing secret, so no token is asked for; an api without
 * a token still answers only requests addressed to a loopback name, as for every route (a
 * rebinding page learns nothing from it either way, but one rule is easier to reason about).
 *
 * @example
 * app.get('/api/v1/openapi.json', openApiHandler({ token: config.api.token }));
 */
export function openApiHandler(options: { token: string | null }): RequestHandler {
  const body = JSON.stringify(OPENAPI);
  return (req, res) => {
    if (!options.token && !isLoopbackHost(req.get('host'))) {
      throw new IpwatchError('IPWATCH_LOOPBACK_ONLY', 'without IPWATCH_API_TOKEN the api answers only requests addressed to 127.0.0.1, localhost or [::1]: call it on 127.0.0.1, or give it a token');
    }
    res.type('application/json').send(body);
  };
}

/** v1's paths, as the unknown-endpoint message lists them: `status, requests, ..., clients/<ip>/analysis`. */
const V1_PATHS = Object.keys(OPENAPI.paths)
  .map((p) => p.slice(1).replace(/\{(\w+)\}/g, '<$1>'))
  .join(', ');

/**
 * The last /api route: a path no route serves is a 404 naming v1's endpoints.
 *
 * @example
 * app.use('/api', unknownEndpoint);
 */
export const unknownEndpoint: RequestHandler = () => {
  throw new IpwatchError('IPWATCH_NO_SUCH_ENDPOINT', `no such API endpoint: under ${API_V1}/ the api serves ${V1_PATHS} (GET ${API_V1}/openapi.json describes each)`);
};
