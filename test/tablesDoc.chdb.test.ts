/**
 * docs/TABLES.md stays true: rendered again from chDB with every migration applied, it equals the
 * committed file byte for byte; every column, skipping index, projection and view ClickHouse has
 * is in the catalog (shared/store/src/tableDocs.ts) with a meaning, and the catalog names none
 * ClickHouse lacks, so a migration that adds a column fails here until the column is described.
 * Each table's retention variable is checked by setting it, and each "how to query it" example
 * is run on rows inserted through the views.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_VARIABLES, loadConfig } from '@ipwatch/core/config';
import { TABLE_DOCS, VIEW_DOCS, migrate, type Analytics } from '@ipwatch/store';
import { TABLES_DOC_PATH, openDocStore, readSchema, renderTablesDoc, type TableInfo } from '../scripts/tables-doc.ts';

let dataDir: string;
let a: Analytics;
let schema: TableInfo[];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ipwatch-tables-doc-'));
  a = await openDocStore(dataDir);
  schema = await readSchema(a);
});

afterAll(async () => {
  await a?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const tables = () => schema.filter((t) => t.view === null);
const views = () => schema.filter((t) => t.view !== null);

/** What is in one list and not in the other, for a message that names them. */
function difference(stored: string[], documented: string[]): { undocumented: string[]; notInClickHouse: string[] } {
  return { undocumented: stored.filter((n) => !documented.includes(n)), notInClickHouse: documented.filter((n) => !stored.includes(n)) };
}
const NONE = { undocumented: [], notInClickHouse: [] };

test('docs/TABLES.md is what the migrations and the catalog give, byte for byte', () => {
  const rendered = renderTablesDoc(schema);
  const committed = readFileSync(TABLES_DOC_PATH, 'utf8');
  if (rendered === committed) return;
  const [want, have] = [rendered.split('\n'), committed.split('\n')];
  const line = want.findIndex((l, i) => l !== have[i]);
  assert.fail(`docs/TABLES.md is out of date: run npm run docs:tables\n(first difference at line ${line + 1}:\n  expected: ${want[line]}\n  file:     ${have[line]})`);
});

test('every table and view ClickHouse has is in the catalog, and the catalog names none it lacks', () => {
  assert.deepEqual(difference(tables().map((t) => t.name), TABLE_DOCS.map((d) => d.name)), NONE, 'tables (shared/store/src/tableDocs.ts TABLE_DOCS)');
  assert.deepEqual(difference(views().map((t) => t.name), VIEW_DOCS.map((d) => d.name)), NONE, 'materialized views (shared/store/src/tableDocs.ts VIEW_DOCS)');
  for (const v of VIEW_DOCS) {
    const info = views().find((t) => t.name === v.name)!;
    assert.deepEqual({ from: info.view!.from, to: info.view!.to }, { from: v.from, to: v.to }, `what ${v.name} reads and writes`);
    assert.ok(v.description.trim(), `${v.name} has a description`);
  }
});

test('every column, skipping index and projection is in the catalog with a meaning, and the catalog names none ClickHouse lacks', () => {
  for (const info of tables()) {
    const doc = TABLE_DOCS.find((d) => d.name === info.name)!;
    assert.ok(doc.description.trim() && doc.sortKey.trim(), `${info.name} has a description and a sort key note`);
    assert.deepEqual(difference(info.columns.map((c) => c.name), Object.keys(doc.columns)), NONE, `columns of ${info.name}: describe each in shared/store/src/tableDocs.ts (or, for a personal table, in privacy/catalog.ts)`);
    for (const [name, c] of Object.entries(doc.columns)) {
      assert.ok(c.meaning.trim(), `${info.name}.${name} has a meaning`);
      assert.ok(c.personal === null || c.personal.trim(), `${info.name}.${name}: a personal data note is null or says what`);
    }
    assert.deepEqual(difference(info.indexes.map((i) => i.name), Object.keys(doc.indexes)), NONE, `skipping indexes of ${info.name}`);
    assert.deepEqual(difference(info.projections.map((p) => p.name), Object.keys(doc.projections)), NONE, `projections of ${info.name}`);
    for (const [name, note] of [...Object.entries(doc.indexes), ...Object.entries(doc.projections)]) assert.ok(note.trim(), `${info.name}: ${name} says what it helps`);
    const aggregates = info.columns.some((c) => /^AggregateFunction\(/.test(c.type));
    assert.equal(doc.howToQuery !== undefined, aggregates, `${info.name}: a table of aggregate states says how to query it, and only such a table`);
  }
});

test('each table\'s retention variable sets its TTL, and a table without one has no TTL', async () => {
  // Distinct days per variable, under 8 (requests_top_5min keeps at most 8).
  const env: Record<string, string> = {};
  const variables = [...new Set(TABLE_DOCS.map((d) => d.retention.variable).filter((v): v is string => v !== null))];
  variables.forEach((v, i) => (env[v] = String(2 + i)));
  for (const v of variables) assert.ok(v in CONFIG_VARIABLES, `${v} is a configuration variable`);
  await migrate(a, { retention: loadConfig(env).retention });
  const after = await readSchema(a);
  for (const doc of TABLE_DOCS) {
    const ttl = after.find((t) => t.name === doc.name)!.ttl;
    const days = ttl === null ? null : Number(/ \+ toIntervalDay\((\d+)\)$/.exec(ttl)?.[1]);
    assert.equal(days, doc.retention.variable === null ? null : Number(env[doc.retention.variable]), `${doc.name}: TTL ${ttl}, documented as set by ${doc.retention.variable}`);
    if (doc.retention.variable === null) assert.ok(doc.retention.note.trim(), `${doc.name}: says how long its rows live without a TTL`);
  }
  // Back to the defaults the document shows.
  await migrate(a, { retention: loadConfig({}).retention });
});

test('each "how to query it" example runs and counts the rows inserted', async () => {
  const now = Date.now();
  await a.client.insert({
    table: 'requests',
    format: 'JSONEachRow',
    values: [
      { event_id: 'tables-doc-1', ts: now, ip: '203.0.113.7', app: 'demo', path: '/tables-doc', status: 200, latency_ms: 12 },
      { event_id: 'tables-doc-2', ts: now, ip: '2001:db8::1', app: 'demo', path: '/tables-doc', status: 404, latency_ms: 30 },
      { event_id: 'tables-doc-3', ts: now, ip: '203.0.113.7', app: 'demo', path: '/other', status: 200, latency_ms: 5 },
    ],
  });
  const examples = TABLE_DOCS.filter((d) => d.howToQuery);
  assert.deepEqual(examples.map((d) => d.name).sort(), ['requests_per_minute', 'requests_top_5min', 'requests_top_hourly']);
  for (const doc of examples) {
    const rows = await (await a.client.query({ query: doc.howToQuery!.example, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<Record<string, unknown>>();
    if (doc.name === 'requests_per_minute') {
      assert.deepEqual(
        rows.map((r) => ({ requests: r.requests, errors: r.errors, clients: r.clients })),
        [{ requests: 3, errors: 1, clients: 2 }],
        'the example sums requests and errors and merges the distinct clients',
      );
    } else {
      assert.deepEqual(rows, [{ top_paths: [{ item: '/tables-doc', count: 2, error: 0 }, { item: '/other', count: 1, error: 0 }], distinct_paths: 2 }], `${doc.name}'s example`);
    }
  }
});
