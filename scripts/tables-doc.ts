/**
 * docs:tables: writes docs/TABLES.md, the ClickHouse tables as analysts query them.
 *
 *   npm run docs:tables
 *
 * Every migration is applied to chDB in a fresh temporary directory, with the default retention
 * (as `ipwatch migrate` sets it); what ClickHouse then reports (system.tables, system.columns,
 * system.data_skipping_indices, system.projections: types, defaults, keys, TTLs, views) is
 * rendered beside the catalog of what it all means (shared/store/src/tableDocs.ts). The output
 * holds no date and no path, so the same migrations and catalog give the same bytes:
 * test/tablesDoc.chdb.test.ts renders it again and compares.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@ipwatch/core/config';
import { openAnalytics, migrate, TABLE_DOCS, VIEW_DOCS, type Analytics, type StoreConnection, type TableDoc, type ViewDoc } from '@ipwatch/store';

export const TABLES_DOC_PATH = fileURLToPath(new URL('../docs/TABLES.md', import.meta.url));

export interface ColumnInfo {
  name: string;
  type: string;
  /** DEFAULT, MATERIALIZED, ALIAS, or '' for none. */
  defaultKind: string;
  defaultExpression: string;
}

export interface TableInfo {
  name: string;
  engine: string;
  sortingKey: string;
  primaryKey: string;
  partitionKey: string;
  /** The TTL expression as ClickHouse writes it back, or null. */
  ttl: string | null;
  columns: ColumnInfo[];
  indexes: { name: string; type: string; expr: string; granularity: number }[];
  projections: { name: string; query: string }[];
  /** A materialized view: the table it reads inserts of, the table it writes to, its SELECT. */
  view: { from: string | null; to: string | null; select: string } | null;
}

/** The tables and views of the store's database, as ClickHouse reports them, by name. */
export async function readSchema(conn: Pick<StoreConnection, 'client'>): Promise<TableInfo[]> {
  const rows = async <T>(query: string) => (await conn.client.query({ query, format: 'JSONEachRow' })).json<T>();
  const tables = await rows<{ name: string; engine: string; sorting_key: string; primary_key: string; partition_key: string; engine_full: string; create_table_query: string; as_select: string; dependencies_table: string[] }>(
    `SELECT name, engine, sorting_key, primary_key, partition_key, engine_full, create_table_query, as_select, dependencies_table
     FROM system.tables WHERE database = currentDatabase() ORDER BY name`,
  );
  const columns = await rows<{ table: string; name: string; type: string; default_kind: string; default_expression: string }>(
    'SELECT table, name, type, default_kind, default_expression FROM system.columns WHERE database = currentDatabase() ORDER BY table, position',
  );
  const indexes = await rows<{ table: string; name: string; type_full: string; expr: string; granularity: number }>(
    'SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices WHERE database = currentDatabase() ORDER BY table, name',
  );
  const projections = await rows<{ table: string; name: string; query: string }>(
    'SELECT table, name, query FROM system.projections WHERE database = currentDatabase() ORDER BY table, name',
  );
  const readFrom = new Map<string, string>();
  for (const t of tables) for (const dependent of t.dependencies_table) readFrom.set(dependent, t.name);
  return tables.map((t) => ({
    name: t.name,
    engine: t.engine,
    sortingKey: t.sorting_key,
    primaryKey: t.primary_key,
    partitionKey: t.partition_key,
    ttl: / TTL (.+?)(?: SETTINGS |$)/.exec(t.engine_full)?.[1] ?? null,
    columns: columns
      .filter((c) => c.table === t.name)
      .map((c) => ({ name: c.name, type: c.type, defaultKind: c.default_kind, defaultExpression: c.default_expression })),
    indexes: indexes.filter((i) => i.table === t.name).map((i) => ({ name: i.name, type: i.type_full, expr: i.expr, granularity: Number(i.granularity) })),
    projections: projections.filter((p) => p.table === t.name).map((p) => ({ name: p.name, query: p.query })),
    view:
      t.engine === 'MaterializedView'
        ? {
            from: readFrom.get(t.name) ?? null,
            to: unqualified(/^CREATE MATERIALIZED VIEW \S+ TO (\S+)/.exec(t.create_table_query)?.[1] ?? null),
            select: unqualify(t.as_select),
          }
        : null,
  }));
}

/** `ipwatch.requests` -> `requests`: the document does not depend on the database's name. */
function unqualified(name: string | null): string | null {
  return name === null ? null : name.replace(/^[^.]+\./, '');
}

function unqualify(sql: string): string {
  return sql.replace(/\b(FROM|JOIN) [A-Za-z_][A-Za-z0-9_]*\./g, '$1 ');
}

/** Opens chDB in dataDir with every migration applied and the default retention: the store the document describes. */
export async function openDocStore(dataDir: string): Promise<Analytics> {
  const analytics = await openAnalytics({ clickhouse: null, dataDir });
  await migrate(analytics, { retention: loadConfig({}).retention });
  return analytics;
}

/** Catalog text as Markdown: a `<` outside code spans would start an HTML tag (`<asn>` would vanish). */
const prose = (text: string) => text.split('`').map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;') : part)).join('`');
/** A note as a sentence of its own: capitalised, with a full stop. */
const sentence = (text: string) => (text ? prose(`${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`) : '');
const cell = (text: string) => prose(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (text: string) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

/** Line breaks before the main clauses of a view's one-line SELECT. */
function formatSelect(sql: string): string {
  return sql.replace(/ (FROM|ARRAY JOIN|WHERE|GROUP BY) /g, '\n$1 ');
}

function renderTable(info: TableInfo, doc: TableDoc | undefined): string[] {
  const out: string[] = [`## ${info.name}`, ''];
  out.push(doc ? prose(doc.description) : '(not in the catalog: shared/store/src/tableDocs.ts)', '');
  out.push(`Engine: ${info.engine}.`, '');
  out.push('| column | type | meaning | personal data |', '| --- | --- | --- | --- |');
  for (const c of info.columns) {
    const d = doc?.columns[c.name];
    const type = c.defaultKind ? `${code(c.type)} (${c.defaultKind} ${code(c.defaultExpression)})` : code(c.type);
    out.push(`| ${code(c.name)} | ${cell(type)} | ${cell(d?.meaning ?? '')} | ${cell(d?.personal ?? '')} |`);
  }
  out.push('');
  const key = info.primaryKey && info.primaryKey !== info.sortingKey ? ` (primary key ${code(info.primaryKey)})` : '';
  out.push(`**Sort key** ${code(`ORDER BY (${info.sortingKey})`)}${key}. ${prose(doc?.sortKey ?? '')}`.trimEnd(), '');
  for (const p of info.projections) out.push(`**Projection** ${code(p.name)}: ${code(p.query)}. ${sentence(doc?.projections[p.name] ?? '')}`.trimEnd(), '');
  for (const i of info.indexes) out.push(`**Skipping index** ${code(i.name)}: ${code(`${i.type} on ${i.expr}, granularity ${i.granularity}`)}. ${sentence(doc?.indexes[i.name] ?? '')}`.trimEnd(), '');
  out.push(`**Partitioning**: ${info.partitionKey ? `by ${code(info.partitionKey)}: a query whose condition rules a partition out does not read it.` : 'none.'}`, '');
  const retention = doc?.retention;
  const days = info.ttl === null ? null : / \+ toIntervalDay\((\d+)\)$/.exec(info.ttl)?.[1];
  const by = retention?.variable ? ` Set by ${code(retention.variable)} (applied by \`ipwatch migrate\`).` : '';
  const note = retention?.note ? ` ${sentence(retention.note)}` : '';
  out.push(
    info.ttl === null
      ? `**Retention**: no TTL.${note}`
      : `**Retention**: TTL ${code(info.ttl)}${days ? `: by default, rows older than ${days} days are removed in background merges` : ''}.${by}${note}`,
    '',
  );
  if (doc?.howToQuery) out.push(`**How to query it**: ${prose(doc.howToQuery.note)}`, '', '```sql', doc.howToQuery.example, '```', '');
  return out;
}

function renderView(info: TableInfo, doc: ViewDoc | undefined): string[] {
  const out: string[] = [`## ${info.name}`, ''];
  out.push(`Materialized view: reads each insert into ${code(info.view?.from ?? '?')}, writes to ${code(info.view?.to ?? '?')}.`, '');
  out.push(doc ? prose(doc.description) : '(not in the catalog: shared/store/src/tableDocs.ts)', '');
  out.push('```sql', formatSelect(info.view?.select ?? ''), '```', '');
  return out;
}

const INTRO = `# The ClickHouse tables

<!-- Generated by \`npm run docs:tables\` from the migrations and shared/store/src/tableDocs.ts: edit those, not this file. -->

What ipwatch stores, table by table, for anyone querying it with their own SQL: the request
log, its rollups, rate-limit refusals, detections, the block history and the privacy audit log.
The tables are a public interface: they change only by a numbered migration
(\`infra/clickhouse/migrations/NNNN_name.sql\`, applied by \`ipwatch migrate\`, and at start by
\`npm start\` and \`ipwatch dev\`), and this page is generated from the migrated schema and checked
against it by \`test/tablesDoc.chdb.test.ts\`, so a column cannot appear without being described
here.

To run a read-only query against the store, embedded (chDB inside the running process) or a
ClickHouse server: \`ipwatch sql "<query>"\` (see README, "SQL for analysts"). The same SQL works
in \`clickhouse client\` against a server.

Conventions:

- Times are UTC: \`DateTime64(3, 'UTC')\` (milliseconds) in the logs, \`DateTime('UTC')\` in the
  rollups. Bound every query of a log by time: the logs are sorted and partitioned by it.
- Addresses are \`IPv6\`, IPv4 stored IPv4-mapped (\`::ffff:203.0.113.7\`): compare with
  \`ip = toIPv6('203.0.113.7')\`, a range with
  \`ip BETWEEN toIPv6('203.0.113.0') AND toIPv6('203.0.113.255')\`, print an IPv4 address
  without the prefix with \`replaceRegexpOne(toString(ip), '^::ffff:', '')\`.
- A column of type \`AggregateFunction(...)\` holds partial aggregates, read with the function's
  \`-Merge\` form; \`SimpleAggregateFunction(sum, ...)\` columns are summed. Rows of one key merge
  in the background, so always aggregate (each such table says how).
- The personal data column says which columns hold data about a person, and in which form.
  Every query \`ipwatch sql\` runs is recorded in the privacy audit log (\`privacy_audit\`).
- Retention: each TTL below is the default; the variable named sets it (README, "Retention").
`;

/** The document, from what ClickHouse reports and the catalog. */
export function renderTablesDoc(schema: readonly TableInfo[], tables: readonly TableDoc[] = TABLE_DOCS, views: readonly ViewDoc[] = VIEW_DOCS): string {
  const byName = new Map(schema.map((t) => [t.name, t]));
  const catalogOrder = (names: string[], isView: boolean) => [
    ...names.filter((n) => byName.get(n)?.view !== undefined && (byName.get(n)!.view !== null) === isView),
    ...schema.filter((t) => (t.view !== null) === isView && !names.includes(t.name)).map((t) => t.name),
  ];
  const tableNames = catalogOrder(tables.map((t) => t.name), false);
  const viewNames = catalogOrder(views.map((v) => v.name), true);

  const out: string[] = [INTRO, '## Contents', ''];
  out.push('Tables:', '');
  for (const n of tableNames) out.push(`- [${n}](#${n})`);
  out.push('', 'Materialized views (they run on each insert into their source table; rows stored before a view existed were backfilled by its migration):', '');
  for (const n of viewNames) {
    const v = byName.get(n)!.view!;
    out.push(`- [${n}](#${n}): ${v.from ?? '?'} → ${v.to ?? '?'}`);
  }
  out.push('');
  for (const n of tableNames) out.push(...renderTable(byName.get(n)!, tables.find((t) => t.name === n)));
  for (const n of viewNames) out.push(...renderView(byName.get(n)!, views.find((v) => v.name === n)));
  return `${out.join('\n').trimEnd()}\n`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipwatch-tables-doc-'));
  try {
    const analytics = await openDocStore(dataDir);
    try {
      writeFileSync(TABLES_DOC_PATH, renderTablesDoc(await readSchema(analytics)));
    } finally {
      await analytics.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log('wrote docs/TABLES.md');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
