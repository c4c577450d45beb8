/**
 * The rig of the OpenAPI tests (test/openapi.chdb.test.ts, test/openapi.answers.chdb.test.ts): a
 * real api on an in-process event log and chDB holding the client-analysis fixture, and the
 * document loaded into ajv, so an answer can be validated against its operation's schema.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { allowMessage, blockMessage, LIST_TOPICS } from '@ipwatch/core/decisions';
import type { Analytics } from '@ipwatch/store';
import { createApiApp, type ApiOptions } from '../../services/api/src/apiServer.ts';
import { openListsView } from '../../services/api/src/listsView.ts';
import { createListChanges } from '../../services/api/src/listChanges.ts';
import { openRulesState } from '../../services/api/src/rulesApi.ts';
import { createPrivacyService } from '../../services/api/src/privacy/service.ts';
import { createSqlService } from '../../services/api/src/sql/service.ts';
import { loadConfig } from '@ipwatch/core/config';
import { API_V1, OPENAPI, type HttpMethod, type JsonObject, type JsonValue } from '../../services/api/src/v1/openapi.ts';
import { FIXTURE, fixtureNow, insertClientFixture } from '../../shared/store/src/queries/clientAnalysis.fixture.ts';
import { testAnalytics } from './analytics.ts';
import { afterThisTest } from './afterThisTest.ts';

/** A token as `openssl rand -hex 32` makes one: the api refuses weaker ones. */
export const TOKEN = '0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f65f';
export const H = 3_600_000;
export const now = fixtureNow();
let stored: Promise<Analytics> | undefined;
export const analytics = () => (stored ??= testAnalytics().then(async (a) => (await insertClientFixture(a, now, 'openapi'), a)));
/** The test store's data directory (chDB takes one per process: the SQL service's session must open the same). */
async function dataDirOf(store: Analytics): Promise<string> {
  const rs = await store.client.query({ query: "SELECT data_path FROM system.databases WHERE name = 'default'", format: 'JSONEachRow' });
  const [row] = await rs.json<{ data_path: string }>();
  return row!.data_path.replace(/\/chdb\/?$/, '');
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: string; code?: string };
}

/** An api with the lists and the rules on an in-process log, chDB, the fixture's clock; closed when the test ends. */
export async function serve(extra: Partial<ApiOptions> = {}, withLists = true) {
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
export function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: { code?: string } }> {
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

export const DOC_ID = 'urn:ipwatch:openapi';
export const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
// The document's own keys are not JSON Schema keywords: declared, so strict mode lets the document be a schema root.
ajv.addVocabulary(['openapi', 'info', 'servers', 'security', 'tags', 'paths', 'components']);
ajv.addSchema(OPENAPI as unknown as JsonObject, DOC_ID);

/** A JSON pointer's escaping of one key. */
export const esc = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** What a JSON pointer (#/a/b) into the document points at; throws when nothing is there. */
export function resolvePointer(pointer: string): JsonValue {
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
export const templated = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/** The document path an actual request path answers to (its {params} matched). */
export function templateOf(path: string): string {
  const bare = path.split('?')[0]!.slice(API_V1.length);
  const found = Object.keys(OPENAPI.paths).find((p) => new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare));
  assert.ok(found, `${bare} is a path of the document`);
  return found;
}

const validators = new Map<string, ValidateFunction>();
/** Called operations and the statuses whose answers were validated: METHOD path -> statuses. */
export const validated = new Map<string, Set<string>>();

/** Validates an answer against the document's schema for its operation and status. */
export function conforms(method: HttpMethod, path: string, answer: Answer): void {
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
export function bodyConforms(method: HttpMethod, template: string, body: unknown): void {
  const pointer = `#/paths/${esc(template)}/${method}/requestBody/content/application~1json/schema`;
  const validate = ajv.getSchema(`${DOC_ID}${pointer}`);
  assert.ok(validate, `${method} ${template} documents its body`);
  assert.ok(validate(body), `${JSON.stringify(body)} matches ${pointer}: ${ajv.errorsText(validate.errors)}`);
}
