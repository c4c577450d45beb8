/**
 * API v1 against its OpenAPI document, on a real api (in-process event log, chDB with the
 * client-analysis fixture): every route Express serves under /api/v1 is in the document and
 * every path of the document is served; the query parameters and body fields each endpoint
 * takes are those documented; the document is OpenAPI 3.1 in shape, its schemas compile and
 * every $ref resolves. Also: the unversioned routes answer as before, marked deprecated with
 * their successor. That every answer validates against its schema: openapi.answers.chdb.test.ts.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { createApiApp } from '../services/api/src/apiServer.ts';
import { API_V1, OPENAPI, type HttpMethod, type JsonObject, type JsonValue } from '../services/api/src/v1/openapi.ts';
import { FIXTURE } from '../shared/store/src/queries/clientAnalysis.fixture.ts';
import { afterThisTest } from './support/afterThisTest.ts';
import { assertRefused } from './support/refusal.ts';
import { DOC_ID, ajv, analytics, conforms, esc, rawGet, resolvePointer, serve, templateOf, templated } from './support/openapiApi.ts';

// ---- (c) the document itself ---------------------------------------------------------

test('the document is OpenAPI 3.1 in shape: every operation described, every $ref resolves, every schema compiles', () => {
  assert.equal(OPENAPI.openapi, '3.1.0');
  assert.equal(typeof OPENAPI.info.title, 'string');
  assert.equal(typeof OPENAPI.info.version, 'string');
  assert.deepEqual(OPENAPI.servers, [{ url: API_V1, description: OPENAPI.servers[0]!.description }]);
  assert.deepEqual(OPENAPI.security, [{ bearerAuth: [] }]);
  assert.deepEqual((OPENAPI.components.securitySchemes as JsonObject).bearerAuth, { ...((OPENAPI.components.securitySchemes as JsonObject).bearerAuth as JsonObject), type: 'http', scheme: 'bearer' });

  const refs: string[] = [];
  const walk = (v: JsonValue) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x);
  };
  walk(OPENAPI as unknown as JsonValue);
  assert.ok(refs.length > 50, `the document shares its schemas (${refs.length} references)`);
  for (const ref of new Set(refs)) resolvePointer(ref);

  const ids = new Set<string>();
  for (const [path, item] of Object.entries(OPENAPI.paths)) {
    assert.match(path, /^\/[a-z0-9\-/{}.]+$/, 'paths are relative to the server, /-led');
    for (const [method, op] of Object.entries(item)) {
      assert.ok(['get', 'post', 'put', 'delete'].includes(method));
      assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
      ids.add(op.operationId);
      assert.ok(op.summary.length > 0 && op.tags.length > 0);
      const params = (op.parameters ?? []) as JsonObject[];
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(params.filter((p) => p.in === 'path').map((p) => p.name), inPath, `${method} ${path}: each path parameter declared, required`);
      for (const p of params) {
        assert.ok(['query', 'path'].includes(p.in as string) && typeof p.description === 'string');
        if (p.in === 'path') assert.equal(p.required, true);
        assert.ok(ajv.getSchema(`${DOC_ID}#/paths/${esc(path)}/${method}/parameters/${params.indexOf(p)}/schema`), `${p.name} has a schema that compiles`);
      }
      const statuses = Object.keys(op.responses);
      assert.ok(statuses.some((s) => /^2\d\d$/.test(s)), `${method} ${path} has a success answer`);
      for (const s of statuses) {
        const response = op.responses[s] as JsonObject;
        const resolved = (typeof response.$ref === 'string' ? resolvePointer(response.$ref) : response) as JsonObject;
        assert.equal(typeof resolved.description, 'string');
        assert.ok((resolved.content as JsonObject)['application/json'], `${method} ${path} ${s} answers JSON`);
      }
      if (op.requestBody) assert.ok(ajv.getSchema(`${DOC_ID}#/paths/${esc(path)}/${method}/requestBody/content/application~1json/schema`));
    }
  }
  for (const name of Object.keys(OPENAPI.components.schemas as JsonObject)) assert.ok(ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`), `schema ${name} compiles`);
  for (const name of Object.keys(OPENAPI.components.responses as JsonObject)) assert.ok(ajv.getSchema(`${DOC_ID}#/components/responses/${name}/content/application~1json/schema`));
});

// ---- (a) routes and document agree ---------------------------------------------------

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  rawPath?: unknown;
  handle: { stack?: Layer[] };
}

/** Every METHOD path Express serves, from the app's router stack down through mounted routers. */
function servedRoutes(app: express.Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method.toUpperCase()} ${prefix}${layer.route.path === '/' ? '' : layer.route.path}`);
      } else if (layer.handle.stack) {
        const at = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + at);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

test('every route Express serves under /api/v1 is in the document, every operation of the document is served, and each answers unversioned too', async () => {
  const { app } = await serve();
  const served = servedRoutes(app);
  const v1 = served.filter((r) => r.split(' ')[1]!.startsWith(`${API_V1}/`)).map((r) => {
    const [method, path] = r.split(' ') as [string, string];
    return `${method} ${templated(path.slice(API_V1.length))}`;
  });
  const documented = Object.entries(OPENAPI.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
  assert.deepEqual([...new Set(v1)].sort(), [...documented].sort(), 'served under /api/v1 = documented');
  assert.equal(v1.length, new Set(v1).size, 'no route registered twice');
  assert.ok(documented.length >= 21, `${documented.length} operations`);
  // The routes of before v1, the same handlers: every v1 operation but those that came with v1.
  const v1Only = ['GET /openapi.json', 'GET /overview', 'GET /request-log', 'GET /detections', 'GET /rate-limits'];
  const legacy = served.filter((r) => !r.split(' ')[1]!.startsWith(`${API_V1}/`) && r.split(' ')[1]!.startsWith('/api/')).map((r) => r.replace(' /api/', ' /'));
  assert.deepEqual(new Set(legacy.map((r) => templated(r))), new Set(documented.filter((r) => !v1Only.includes(r))));
}, 60_000);

test('the query parameters and body fields each endpoint takes are those the document lists', async () => {
  const { send } = await serve();
  /** The names a refusal says an endpoint takes: "... it takes a, b, c, each once" or "it takes no parameters". */
  const takes = (message: string) => (/it takes no (parameters|fields)/.test(message) ? [] : (/it takes (.+?)(, each once)?$/.exec(message)?.[1] ?? '?').split(', '));
  const sample: Record<string, string> = { ip: FIXTURE.ip, id: 'burst' };
  let probed = 0;
  for (const [path, item] of Object.entries(OPENAPI.paths)) {
    for (const [method, op] of Object.entries(item) as Array<[HttpMethod, JsonObject]>) {
      if (path === '/openapi.json' || method === 'post' && !path.startsWith('/rules/')) continue; // the document takes anything; list changes read no query
      const concrete = path.replace(/\{(\w+)\}/g, (_, name: string) => sample[name]!);
      const answer = await send(method.toUpperCase(), `${API_V1}${concrete}?zzz=1`, method === 'post' || method === 'put' ? { body: {} } : {});
      assertRefused(answer, 'IPWATCH_UNKNOWN_PARAMETER');
      const documented = ((op.parameters ?? []) as JsonObject[]).filter((p) => p.in === 'query').map((p) => p.name);
      assert.deepEqual(takes(answer.body.error!), documented, `${method.toUpperCase()} ${path}: ${answer.body.error}`);
      probed++;
    }
  }
  assert.ok(probed >= 14, `${probed} operations probed`);
  // Bodies: a field the body schema does not list is refused, and the refusal names the fields the schema lists.
  for (const [path, body] of [['/blocks', { target: '203.0.113.50' }], ['/allowlist', { target: '203.0.113.50' }], ['/blocks/import', { targets: ['203.0.113.51'] }], ['/rules/burst', {}], ['/privacy/export', { ip: FIXTURE.ip }], ['/privacy/erase', { ip: FIXTURE.ip }], ['/sql', { query: 'SELECT 1' }]] as const) {
    const method: HttpMethod = path === '/rules/burst' ? 'put' : 'post';
    const answer = await send(method.toUpperCase(), `${API_V1}${path}`, { body: { ...body, zzz: 1 } });
    assertRefused(answer, 'IPWATCH_UNKNOWN_PARAMETER');
    const content = ((OPENAPI.paths[templateOf(`${API_V1}${path}`)]![method]!.requestBody as JsonObject).content as JsonObject)['application/json'] as JsonObject;
    const schema = resolvePointer((content.schema as JsonObject).$ref as string) as JsonObject;
    assert.deepEqual(takes(answer.body.error!), Object.keys(schema.properties as JsonObject), `${path}: ${answer.body.error}`);
  }
}, 60_000);

test('the unversioned routes answer as before, deprecated, naming their successor; v1 answers are not marked', async () => {
  const { send } = await serve();
  const old = await send('GET', '/api/requests?limit=1');
  assert.equal(old.status, 200);
  assert.equal(old.headers.get('deprecation'), 'true');
  assert.equal(old.headers.get('link'), '</api/v1/requests>; rel="successor-version"');
  conforms('get', `${API_V1}/requests`, old);
  const analysis = await send('GET', `/api/clients/${encodeURIComponent(FIXTURE.ip6)}/analysis?hours=1`);
  assert.equal(analysis.status, 200);
  assert.equal(analysis.headers.get('link'), `</api/v1/clients/${encodeURIComponent(FIXTURE.ip6)}/analysis>; rel="successor-version"`);
  // A hostile path stays inside the Link's brackets, and is still a 404 of the unknown endpoint.
  const hostile = await send('GET', '/api/x%3E;%20rel=%22evil%22/"<>');
  assertRefused(hostile, 'IPWATCH_NO_SUCH_ENDPOINT');
  assert.match(hostile.headers.get('link') ?? '', /^<\/api\/v1\/x%3E;%20rel=%22evil%22\/%22%3C%3E>; rel="successor-version"$/);
  const current = await send('GET', `${API_V1}/requests?limit=1`);
  assert.equal(current.headers.get('deprecation'), null);
  assert.equal(current.headers.get('link'), null);
  // The same refusal either way, naming the path as asked.
  assertRefused(await send('GET', '/api/requests?ipp=1'), 'IPWATCH_UNKNOWN_PARAMETER', /GET \/api\/requests does not take/);
  assertRefused(await send('GET', `${API_V1}/requests?ipp=1`), 'IPWATCH_UNKNOWN_PARAMETER', /GET \/api\/v1\/requests does not take/);
  assertRefused(await send('GET', '/api/v1'), 'IPWATCH_NO_SUCH_ENDPOINT');
}, 60_000);

test('an api without a token serves the document to loopback names only, like every route', async () => {
  const store = await analytics();
  const server = createApiApp({ analytics: store, token: null }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  assert.equal((await rawGet(port, `${API_V1}/openapi.json`, { host: `localhost:${port}` })).status, 200);
  const rebound = await rawGet(port, `${API_V1}/openapi.json`, { host: 'attacker.example:7070' });
  assert.equal(rebound.status, 403);
  assert.equal(rebound.body.code, 'IPWATCH_LOOPBACK_ONLY');
});
