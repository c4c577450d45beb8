/**
 * API v1 against its OpenAPI document, on a real api (in-process event log, chDB with the
 * client-analysis fixture): every route Express serves under /api/v1 is in the document and
 * every path of the document is served; every operation is called with realistic input and
 * each answer (errors too) validates against the document's schema with ajv; the query
 * parameters each endpoint takes are those documented; the document is OpenAPI 3.1 in shape,
 * its schemas compile and every $ref resolves. Also: the unversioned routes answer as before,
 * marked deprecated with their successor.
 */
import { jest, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import type express from 'express';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { allowMessage, blockMessage, LIST_TOPICS } from '@ipwatch/core/decisions';
import type { Analytics } from '@ipwatch/store';
import { createApiApp, type ApiOptions } from '../services/api/src/apiServer.ts';
import { openListsView } from '../services/api/src/listsView.ts';
import { createListChanges } from '../services/api/src/listChanges.ts';
import { openRulesState } from '../services/api/src/rulesApi.ts';
import { createPrivacyService } from '../services/api/src/privacy/service.ts';
import { createSqlService } from '../services/api/src/sql/service.ts';
import { loadConfig } from '@ipwatch/core/config';
import { API_V1, OPENAPI, type HttpMethod, type JsonObject, type JsonValue } from '../services/api/src/v1/openapi.ts';
import { FIXTURE, fixtureNow, insertClientFixture } from '../shared/store/src/queries/clientAnalysis.fixture.ts';
import { testAnalytics } from './support/analytics.ts';
import { afterThisTest } from './support/afterThisTest.ts';
import { assertRefused } from './support/refusal.ts';

/** A token as `openssl rand -hex 32` makes one: the api refuses weaker ones. */
const TOKEN = '0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f65f';
const H = 3_600_000;
const now = fixtureNow();
let stored: Promise<Analytics> | undefined;
const analytics = () => (stored ??= testAnalytics().then(async (a) => (await insertClientFixture(a, now, 'openapi'), a)));
/** The test store's data directory (chDB takes one per process: the SQL service's session must open the same). */
async function dataDirOf(store: Analytics): Promise<string> {
  const rs = await store.client.query({ query: "SELECT data_path FROM system.databases WHERE name = 'default'", format: 'JSONEachRow' });
  const [row] = await rs.json<{ data_path: string }>();
  return row!.data_path.replace(/\/chdb\/?$/, '');
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: string; code?: string };
}

/** An api with the lists and the rules on an in-process log, chDB, the fixture's clock; closed when the test ends. */
async function serve(extra: Partial<ApiOptions> = {}, withLists = true) {
  const store = await analytics();
  const log = createMemoryEventLog();
  const warn = () => {};
  const view = await openListsView(log, warn);
  await view.ready;
  const rules = openRulesState({ log, warn });
  await rules.book.ready;
  const sql = createSqlService({ analytics: store, config: { ...loadConfig({}), dataDir: await dataDirOf(store) } });
  // A rule's block on the fixture's client (as the scorer writes it), so its analysis shows evidence; an allowlisted range.
  await log.produce(LIST_TOPICS.blocks, [blockMessage({ target: FIXTURE.ip, reason: 'sensitive files', source: 'sensitive-files', severity: 'high', createdAt: now - H, expiresAt: now + 6 * H, createdBy: 'scorer' })]);
  await log.produce(LIST_TOPICS.allow, [allowMessage({ target: '2001:db8:1::/48', reason: 'office', createdAt: now - 2 * H, expiresAt: null, createdBy: 'alice' })]);
  assert.ok(await view.waitFor('blocks', FIXTURE.ip, (r) => r !== undefined, 5000));
  assert.ok(await view.waitFor('allow', '2001:db8:1::/48', (r) => r !== undefined, 5000));
  const app = createApiApp({
    analytics: store,
    token: TOKEN,
    now: () => now,
    ...(withLists && {
      lists: { view, changes: createListChanges({ log, view, analytics: store, warn }) },
      rules: { rules, log, warn },
      privacy: createPrivacyService({ analytics: store, config: loadConfig({}), view }),
      sql,
    }),
    ...extra,
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await rules.stop();
    await log.close();
    await sql.close();
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  async function send(method: string, path: string, options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> {
    const token = options.token === undefined ? TOKEN : options.token;
    const headers: Record<string, string> = { ...(token && { authorization: `Bearer ${token}` }), ...options.headers };
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, ...(options.body !== undefined && { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
  }
  return { app, port, send };
}

/** A raw GET, so the test can send any Host header (fetch would not). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: { code?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code?: string } }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- the document as a schema source -------------------------------------------------

const DOC_ID = 'urn:ipwatch:openapi';
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
// The document's own keys are not JSON Schema keywords: declared, so strict mode lets the document be a schema root.
ajv.addVocabulary(['openapi', 'info', 'servers', 'security', 'tags', 'paths', 'components']);
ajv.addSchema(OPENAPI as unknown as JsonObject, DOC_ID);

/** A JSON pointer's escaping of one key. */
const esc = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** What a JSON pointer (#/a/b) into the document points at; throws when nothing is there. */
function resolvePointer(pointer: string): JsonValue {
  assert.ok(pointer.startsWith('#/'), `a local reference: ${pointer}`);
  let at: JsonValue = OPENAPI as unknown as JsonValue;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(typeof at === 'object' && at !== null && Object.hasOwn(at, key), `${pointer} resolves (no ${key})`);
    at = (at as { [k: string]: JsonValue })[key] as JsonValue;
  }
  return at;
}

/** Express's path syntax to the document's: /clients/:ip/analysis -> /clients/{ip}/analysis. */
const templated = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/** The document path an actual request path answers to (its {params} matched). */
function templateOf(path: string): string {
  const bare = path.split('?')[0]!.slice(API_V1.length);
  const found = Object.keys(OPENAPI.paths).find((p) => new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare));
  assert.ok(found, `${bare} is a path of the document`);
  return found;
}

const validators = new Map<string, ValidateFunction>();
/** Called operations and the statuses whose answers were validated: METHOD path -> statuses. */
const validated = new Map<string, Set<string>>();

/** Validates an answer against the document's schema for its operation and status. */
function conforms(method: HttpMethod, path: string, answer: Answer): void {
  const template = templateOf(path);
  const operation = OPENAPI.paths[template]?.[method];
  assert.ok(operation, `${method.toUpperCase()} ${template} is in the document`);
  const status = String(answer.status);
  let pointer = `#/paths/${esc(template)}/${method}/responses/${status}`;
  const response = operation.responses[status] as JsonObject | undefined;
  assert.ok(response, `${method.toUpperCase()} ${template} documents status ${status} (answered ${JSON.stringify(answer.body).slice(0, 300)})`);
  if (typeof response.$ref === 'string') pointer = response.$ref;
  pointer += '/content/application~1json/schema';
  let validate = validators.get(pointer);
  if (!validate) {
    validate = ajv.getSchema(`${DOC_ID}${pointer}`);
    assert.ok(validate, `ajv compiles ${pointer}`);
    validators.set(pointer, validate);
  }
  assert.ok(validate(answer.body), `${method.toUpperCase()} ${path} ${status} matches ${pointer}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body).slice(0, 2000)}`);
  const key = `${method.toUpperCase()} ${template}`;
  validated.set(key, (validated.get(key) ?? new Set()).add(status));
}

/** The request body a document operation takes, validated like an answer: what the test sends is what the document says. */
function bodyConforms(method: HttpMethod, template: string, body: unknown): void {
  const pointer = `#/paths/${esc(template)}/${method}/requestBody/content/application~1json/schema`;
  const validate = ajv.getSchema(`${DOC_ID}${pointer}`);
  assert.ok(validate, `${method} ${template} documents its body`);
  assert.ok(validate(body), `${JSON.stringify(body)} matches ${pointer}: ${ajv.errorsText(validate.errors)}`);
}

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

// ---- (b) answers match their schemas -------------------------------------------------

test('every operation, called with realistic input, answers what its schema says; so do its refusals', async () => {
  const { send, port } = await serve();
  const v = (path: string) => `${API_V1}${path}`;
  const call = async (method: HttpMethod, path: string, expected: number, options: Parameters<typeof send>[2] = {}) => {
    if (options.body !== undefined && typeof options.body !== 'string') bodyConforms(method, templateOf(v(path)), options.body);
    const answer = await send(method.toUpperCase(), v(path), options);
    assert.equal(answer.status, expected, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body).slice(0, 500)}`);
    conforms(method, v(path), answer);
    return answer;
  };

  // The service.
  assert.equal((await call('get', '/status', 200)).body.ok, true);
  const doc = await call('get', '/openapi.json', 200, { token: null });
  assert.deepEqual(doc.body, JSON.parse(JSON.stringify(OPENAPI)), 'the document served is the module\'s');

  // The request log, filtered; a bad filter.
  const page = await call('get', `/requests?ip=${encodeURIComponent('198.51.100.0/24')}&since=1d&status=4xx&country=fr&limit=5`, 200);
  assert.ok((page.body.rows as unknown[]).length > 0, 'the fixture\'s requests are listed');
  await call('get', `/requests?path=${encodeURIComponent("' OR 1=1 --")}&until=2099-01-01`, 200);
  assertRefused(await call('get', '/requests?status=teapot', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/requests?ip=10.0.0.1/8', 400), 'IPWATCH_BAD_FILTER');

  // Blocks: add, replace, list, import, remove, nothing to remove.
  const blockBody = { target: '203.0.113.7', reason: 'scanner', expires: '+7d', severity: 'high', actor: 'ops@laptop' };
  assert.equal((await call('post', '/blocks', 201, { body: blockBody })).body.replaced, false);
  const replaced = await call('post', '/blocks', 200, { body: { ...blockBody, expires: 'never' } });
  assert.deepEqual((replaced.body.changes as Array<{ field: string }>).map((c) => c.field), ['expiresAt']);
  const blocks = await call('get', '/blocks', 200);
  assert.ok((blocks.body.rows as Array<{ source: string }>).some((r) => r.source === 'sensitive-files'), 'the rule\'s block is listed');
  await call('get', `/blocks?covers=${FIXTURE.ip}&expired=true&limit=10`, 200);
  assert.equal((await call('post', '/blocks/import', 201, { body: { targets: ['192.0.2.1', '192.0.2.16/28', '2001:db8:9::/48'], reason: 'feed', severity: 'medium', expires: '+1d' } })).body.imported, 3);
  await call('delete', '/blocks?target=203.0.113.7&reason=done&actor=ops', 200);
  assertRefused(await call('delete', '/blocks?target=203.0.113.99', 404), 'IPWATCH_NOT_LISTED');
  assertRefused(await call('post', '/blocks', 400, { body: { ...blockBody, expires: 'tomorrow' } }), 'IPWATCH_BAD_DECISION');
  assertRefused(await call('post', '/blocks', 403, { body: { target: '203.0.113.8', source: 'burst' } }), 'IPWATCH_RESERVED_SOURCE');
  assertRefused(await call('post', '/blocks', 415, { body: 'target=203.0.113.7', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/blocks', 413, { body: JSON.stringify({ target: 'x'.repeat(20_000) }) }), 'IPWATCH_BODY_TOO_LARGE');

  // The allowlist.
  await call('post', '/allowlist', 201, { body: { target: '10.1.0.0/16', reason: 'office', expires: 'never', actor: 'ops' } });
  await call('get', '/allowlist?expired=false', 200);
  await call('delete', '/allowlist?target=10.1.0.0/16', 200);
  assertRefused(await call('delete', '/allowlist?target=10.1.0.0/16', 404), 'IPWATCH_NOT_LISTED');

  // The audit trail.
  const events = await call('get', '/block-events?limit=50', 200);
  assert.ok((events.body.rows as unknown[]).length >= 5);
  await call('get', '/block-events?target=203.0.113.7', 200);
  assertRefused(await call('get', '/block-events?target=10.0.0.5/24', 400), 'IPWATCH_INVALID_ADDRESS');

  // A client: blocked by a rule (with its detection as evidence), an IPv6 /64 allowlisted, one unseen.
  const analysis = await call('get', `/clients/${FIXTURE.ip}/analysis?hours=3`, 200);
  const covering = (analysis.body.blockedNow as { blocks: Array<{ evidence: unknown }> }).blocks;
  assert.ok(covering.some((b) => b.evidence !== null), 'a block with evidence was validated');
  await call('get', `/clients/${encodeURIComponent(FIXTURE.ip6)}/analysis?hours=3`, 200);
  await call('get', '/clients/192.0.2.200/analysis', 200);
  assertRefused(await call('get', '/clients/example.com/analysis', 400), 'IPWATCH_INVALID_ADDRESS');

  // The daily report of the fixture's day, and a day that does not exist.
  const day = new Date(now - H).toISOString().slice(0, 10);
  const report = await call('get', `/reports/daily?date=${day}&tz=UTC&top=5`, 200);
  assert.ok(((report.body.totals as { requests: { value: number } }).requests.value) > 0, 'the report has figures');
  await call('get', '/reports/daily?tz=Europe/Paris', 200);
  assertRefused(await call('get', '/reports/daily?date=2015-02-30', 400), 'IPWATCH_BAD_FILTER');

  // What the dashboard shows: the overview, detections paged, rate-limit refusals; bad filters.
  const overview = await call('get', '/overview', 200);
  assert.ok(((overview.body.totals as { requests: { value: number } }).requests.value) > 0, 'the overview has figures');
  assert.ok((overview.body.latestDetections as unknown[]).length > 0 && (overview.body.latestBlocks as unknown[]).length > 0, 'and latest detections and blocks');
  await call('get', `/overview?since=3h&until=${encodeURIComponent(new Date(now).toISOString())}&bucket=15m&top=3&latest=2`, 200);
  assertRefused(await call('get', '/overview?bucket=7x', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/overview?since=60d', 400), 'IPWATCH_BAD_FILTER', /at most 31 days/);
  const log = await call('get', `/request-log?ip=${encodeURIComponent('198.51.100.0/24')}&not_status=2xx&method=get&limit=2`, 200);
  assert.equal((log.body.rows as Array<{ status: number }>).length, 2);
  assert.ok((log.body.rows as Array<{ status: number }>).every((r) => r.status >= 300), 'the exclusion applied');
  const older = await call('get', `/request-log?ip=${encodeURIComponent('198.51.100.0/24')}&not_status=2xx&method=get&limit=2&before=${encodeURIComponent(log.body.next as string)}`, 200);
  assert.notDeepEqual(older.body.rows, log.body.rows);
  await call('get', `/request-log?ua=${encodeURIComponent('\u001b[2J')}&country=FR&asn=AS16276&user=admin&blocked=false&limited=no&since=1d&until=2099-01-01`, 200);
  assertRefused(await call('get', '/request-log?blocked=maybe', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/request-log?not_asn=ASX', 400), 'IPWATCH_BAD_FILTER', /not_asn/);
  const first = await call('get', '/detections?limit=1', 200);
  assert.equal((first.body.rows as unknown[]).length, 1);
  assert.equal(typeof first.body.next, 'string', 'there is an older page');
  const second = await call('get', `/detections?limit=1&before=${encodeURIComponent(first.body.next as string)}`, 200);
  assert.notDeepEqual(second.body.rows, first.body.rows);
  const filtered = await call('get', `/detections?rule=sensitive-files&severity=high&mode=live&client=${encodeURIComponent('198.51.100.0/24')}&since=1d`, 200);
  assert.ok((filtered.body.rows as Array<{ rule: string }>).every((r) => r.rule === 'sensitive-files') && (filtered.body.rows as unknown[]).length > 0);
  assertRefused(await call('get', '/detections?severity=urgent', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/detections?before=yesterday', 400), 'IPWATCH_BAD_FILTER');
  const limits = await call('get', `/rate-limits?ip=${FIXTURE.ip}&since=1d`, 200);
  assert.ok((limits.body.rows as unknown[]).length > 0 && (limits.body.byRule as unknown[]).length > 0);
  await call('get', '/rate-limits?rule=login&limit=1', 200);
  assertRefused(await call('get', '/rate-limits?ip=nope', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/rate-limits?rule=', 400), 'IPWATCH_BAD_FILTER', /rule is empty/);
  for (const path of ['/api/overview', '/api/request-log', '/api/detections', '/api/rate-limits']) assertRefused(await send('GET', path), 'IPWATCH_NO_SUCH_ENDPOINT');

  // Rules: list, show, change, create, the four shorthands, reset and delete.
  const { rules } = (await call('get', '/rules', 200)).body as { rules: Array<{ id: string; threshold: number }> };
  const burst = rules.find((r) => r.id === 'burst');
  assert.ok(burst);
  await call('get', '/rules/burst', 200);
  assertRefused(await call('get', '/rules/brust', 404), 'IPWATCH_NO_SUCH_RULE');
  await call('put', '/rules/burst', 200, { body: { threshold: burst.threshold + 10, description: 'tuned' } });
  await call('put', '/rules/login-probe', 201, { body: { kind: 'login_failures', windowMs: 60_000, threshold: 5, severity: 'medium', mode: 'dry_run' } });
  // Sent as text: a body the schema refuses too (below its minimum), so the api must refuse it.
  assertRefused(await call('put', '/rules/burst', 400, { body: JSON.stringify({ windowMs: 10 }) }), 'IPWATCH_INVALID_RULE');
  for (const shorthand of ['disable', 'enable', 'live', 'dry-run']) await call('post', `/rules/burst/${shorthand}`, 200, { body: {} });
  assert.equal((await call('delete', '/rules/login-probe', 200)).body.reset, 'deleted');
  assert.equal((await call('delete', '/rules/burst', 200)).body.reset, 'restored');
  assert.equal((await call('delete', '/rules/burst', 200)).body.reset, 'unchanged');

  // SQL: a query (JSON; CSV as a file named by its audit id), refused by ClickHouse's guards, stopped by a limit, invalid, not JSON.
  const answered = await call('post', '/sql', 200, { body: { query: `SELECT status, count() AS n FROM requests WHERE ip = toIPv6('${FIXTURE.ip}') GROUP BY status ORDER BY status` } });
  assert.ok((answered.body.rows as unknown[]).length > 0, 'the fixture\'s requests are counted');
  assert.equal(answered.headers.get('cache-control'), 'no-store');
  const sqlCsv = await fetch(`http://127.0.0.1:${port}${v('/sql')}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: 'SELECT 1 AS one', format: 'csv' }) });
  assert.equal(sqlCsv.status, 200);
  assert.match(sqlCsv.headers.get('content-disposition') ?? '', /^attachment; filename="ipwatch-sql-[0-9a-f-]{36}\.csv"$/);
  assert.equal(await sqlCsv.text(), 'one\n1\n');
  await call('post', '/sql', 200, { body: { query: 'SELECT 1', format: 'json' } });
  assertRefused(await call('post', '/sql', 403, { body: { query: 'DROP TABLE requests' } }), 'IPWATCH_SQL_REFUSED', /read-only/);
  assertRefused(await call('post', '/sql', 422, { body: { query: 'SELECT number FROM numbers(20000)' } }), 'IPWATCH_SQL_LIMIT', /IPWATCH_SQL_MAX_RESULT_ROWS/);
  assertRefused(await call('post', '/sql', 400, { body: { query: 'SELEC 1' } }), 'IPWATCH_SQL_INVALID');
  assertRefused(await call('post', '/sql', 400, { body: JSON.stringify({ query: 'SELECT 1', format: 'xml' }) }), 'IPWATCH_USAGE', /json or csv/);
  assertRefused(await call('post', '/sql', 415, { body: 'query=SELECT+1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/sql', 413, { body: JSON.stringify({ query: `SELECT '${'x'.repeat(300_000)}'` }) }), 'IPWATCH_BODY_TOO_LARGE');
  assertRefused(await call('post', '/sql', 401, { body: { query: 'SELECT 1' }, token: null }), 'IPWATCH_BAD_TOKEN');

  // Privacy: an export (JSON; CSV as a file named by its audit id), an erasure and its repeat, the audit log, erasures under way.
  const exported = await call('post', '/privacy/export', 200, { body: { ip: FIXTURE.ip } });
  assert.ok((exported.body.total as number) > 0, 'the fixture\'s client has rows');
  assert.equal(exported.headers.get('cache-control'), 'no-store');
  const csv = await fetch(`http://127.0.0.1:${port}${v('/privacy/export')}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ ip: FIXTURE.ip, format: 'csv' }) });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(csv.headers.get('content-disposition') ?? '', /^attachment; filename="ipwatch-export-[0-9a-f-]{36}\.csv"$/);
  assert.equal((await csv.text()).split('\n')[0], 'table,row,field,value,meaning');
  assert.equal((await call('post', '/privacy/export', 200, { body: { user: 'nobody-here', force: false, format: 'json' } })).body.total, 0);
  const erased = await call('post', '/privacy/erase', 200, { body: { ip: FIXTURE.ip6Other } });
  assert.ok(((erased.body.removed as Record<string, number>).requests ?? 0) > 0, 'the erasure removed requests');
  assert.equal((await call('post', '/privacy/erase', 200, { body: { ip: FIXTURE.ip6Other, force: false } })).body.nothingFound, true);
  assertRefused(await call('post', '/privacy/erase', 400, { body: { ip: '10.0.0.0/8' } }), 'IPWATCH_ERASE_TOO_WIDE', /IPWATCH_ERASE_MAX_PREFIX_V4/);
  assertRefused(await call('post', '/privacy/export', 400, { body: JSON.stringify({ ip: FIXTURE.ip, user: 'alice' }) }), 'IPWATCH_USAGE');
  assertRefused(await call('post', '/privacy/export', 400, { body: JSON.stringify({ ip: FIXTURE.ip, format: 'xml' }) }), 'IPWATCH_USAGE', /json or csv/);
  assertRefused(await call('post', '/privacy/erase', 415, { body: `ip=${FIXTURE.ip}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/privacy/erase', 401, { body: { ip: FIXTURE.ip }, token: null }), 'IPWATCH_BAD_TOKEN');
  const audit = (await call('get', '/privacy/audit?limit=10&action=erase', 200)).body.rows as Array<{ action: string; outcome: string }>;
  assert.deepEqual(audit.map((r) => `${r.action} ${r.outcome}`).sort(), ['erase completed', 'erase nothing_found', 'erase started'], 'the erasure (started, completed) and its repeat');
  assert.ok(!JSON.stringify(audit).includes(FIXTURE.ip6Other), 'the audit log holds no address');
  await call('get', '/privacy/audit', 200);
  assertRefused(await call('get', '/privacy/audit?action=read', 400), 'IPWATCH_BAD_FILTER');
  assert.deepEqual((await call('get', '/privacy/pending', 200)).body.rows, []);

  // Refusals before any route: no token, another origin, an unknown endpoint.
  const noToken = await call('get', '/requests', 401, { token: null });
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer');
  assertRefused(noToken, 'IPWATCH_BAD_TOKEN');
  assertRefused(await call('get', '/status', 403, { headers: { origin: 'http://evil.example' } }), 'IPWATCH_CROSS_ORIGIN');
  assertRefused(await call('get', '/openapi.json', 403, { token: null, headers: { origin: 'http://evil.example' } }), 'IPWATCH_CROSS_ORIGIN');
  const unknown = await send('GET', v('/nothing'));
  assertRefused(unknown, 'IPWATCH_NO_SUCH_ENDPOINT', /under \/api\/v1\/ the api serves status, requests, blocks/);
  const validateError = ajv.getSchema(`${DOC_ID}#/components/schemas/Error`)!;
  assert.ok(validateError(unknown.body), ajv.errorsText(validateError.errors));
  // With a token configured, the document answers any Host without one (the rest does not).
  assert.equal((await rawGet(port, v('/openapi.json'), { host: 'ipwatch.internal:7070' })).status, 200);
  assert.equal((await rawGet(port, v('/status'), { host: 'ipwatch.internal:7070' })).status, 401);

  // Every operation of the document was called and its success validated.
  const missing = Object.entries(OPENAPI.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((m) => ![...(validated.get(`${m.toUpperCase()} ${path}`) ?? [])].some((s) => s.startsWith('2'))).map((m) => `${m.toUpperCase()} ${path}`),
  );
  assert.deepEqual(missing, [], 'operations never validated');
}, 120_000);

test('the refusals no route makes: 503 without the lists, 429 after wrong tokens, 500 with nothing leaked; all match their schemas', async () => {
  const bare = await serve({}, false);
  for (const path of ['/blocks', '/allowlist', '/rules', '/rules/burst']) {
    const answer = await bare.send('GET', `${API_V1}${path}`);
    assertRefused(answer, 'IPWATCH_LISTS_UNAVAILABLE');
    conforms('get', `${API_V1}${path}`, answer);
  }
  for (const path of ['/privacy/audit', '/privacy/pending']) {
    const answer = await bare.send('GET', `${API_V1}${path}`);
    assertRefused(answer, 'IPWATCH_PRIVACY_UNAVAILABLE');
    conforms('get', `${API_V1}${path}`, answer);
  }
  const noPrivacy = await bare.send('POST', `${API_V1}/privacy/erase`, { body: { ip: FIXTURE.ip } });
  assertRefused(noPrivacy, 'IPWATCH_PRIVACY_UNAVAILABLE');
  conforms('post', `${API_V1}/privacy/erase`, noPrivacy);
  const noSql = await bare.send('POST', `${API_V1}/sql`, { body: { query: 'SELECT 1' } });
  assertRefused(noSql, 'IPWATCH_SQL_UNAVAILABLE');
  conforms('post', `${API_V1}/sql`, noSql);
  const throttled = await serve({ authThrottle: { maxFailures: 1 } });
  conforms('get', `${API_V1}/requests`, await throttled.send('GET', `${API_V1}/requests`, { token: 'wrong' }));
  const limited = await throttled.send('GET', `${API_V1}/requests`);
  assertRefused(limited, 'IPWATCH_AUTH_THROTTLED');
  assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
  conforms('get', `${API_V1}/requests`, limited);

  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const failing = await serve({ status: () => { throw new Error('SELECT secret FROM requests'); } });
    const failed = await failing.send('GET', `${API_V1}/status`);
    assertRefused(failed, 'IPWATCH_INTERNAL');
    conforms('get', `${API_V1}/status`, failed);
  } finally {
    stderr.mockRestore();
  }
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
