/**
 * `ipwatch sql` and POST /api/v1/sql end to end, as an analyst runs them: the real log in
 * ../shared/data (plus a hostile request) replayed to the present with `ipwatch replay
 * --shift-to-now`, an api over that store with the SQL service and a named token (in this
 * process, on a free port), and the CLI in a child process talking to it. A cookbook query in
 * table, JSON and CSV equals ClickHouse's own count; every forbidden kind of query is refused
 * by ClickHouse through the api (exit 2) and leaves the store as it was; an api started with
 * IPWATCH_SQL_MAX_ROWS_READ=1000 stops a query reading more, naming the variable; no token, no
 * query (and without a token, no query addressed to a name other than loopback); the audit log
 * lists the queries with their outcome and text; a path holding markup and a terminal escape
 * is printed as text.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, copyFileSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import { COOKBOOK, openAnalytics, type Analytics, type SqlResult } from '@ipwatch/store';
import { createApiApp } from '../services/api/src/apiServer.ts';
import { openListsView, type ListsView } from '../services/api/src/listsView.ts';
import { createPrivacyService, type PrivacyService } from '../services/api/src/privacy/service.ts';
import { createSqlService, type SqlService } from '../services/api/src/sql/service.ts';
import { IPWATCH_BIN, runCli, tempDir, type CliResult } from './support/cli.ts';
import { childEnv } from './support/components.ts';

const LOG = fileURLToPath(new URL('../../shared/data/apache-combined-2015.log', import.meta.url));
const REPLAY_ENV = { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0' };
/** A named token as `openssl rand -hex 32` makes one: its name is the actor the audit log records. */
const TOKEN = 'analyst:5e8a1c3f7b9d2e4a6c8f0b1d3e5a7c9f2b4d6e8a0c1f3b5d7e9a2c4f6b8d0e1a';
/** 364 requests in the log, over several days. */
const IP = '46.105.14.53';
const ESC = '\u001b';
/** A request an attacker sent: markup in the path, a raw terminal escape in the path and the user agent. */
const HOSTILE = `198.51.100.66 - - [20/May/2015:20:00:00 +0000] "GET /search?q=<script>alert(1)</script>${ESC}[31mred${ESC}[0m HTTP/1.1" 404 12 "-" "evil ${ESC}]0;owned${ESC}\\ <b>bot</b>"\n`;
const CLIENT_PER_MINUTE = COOKBOOK.find((e) => e.id === 'client-per-minute')!;

let dir: string;
let a: Analytics;
let log: EventLog;
let view: ListsView;
let privacy: PrivacyService;
let sql: SqlService;
let limitedSql: SqlService;
const servers: Server[] = [];
let env: Record<string, string>;
let limitedEnv: Record<string, string>;
let base: string;
let openPort: number;

async function listen(app: ReturnType<typeof createApiApp>): Promise<number> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const sqlCli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(['sql', ...args], { ...env, ...extra }, dir);

/** `ipwatch sql` with text on its stdin. */
function sqlCliWithStdin(args: string[], input: string): Promise<CliResult> {
  const vars = childEnv({});
  for (const k of Object.keys(vars)) if (k.startsWith('IPWATCH_')) delete vars[k];
  const child = spawn(process.execPath, [IPWATCH_BIN, 'sql', ...args], { cwd: dir, env: { ...vars, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

async function post(url: string, body: unknown, token: string | null = TOKEN): Promise<{ status: number; body: Record<string, unknown> & { code?: string; error?: string } }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) };
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A raw POST, so the test can send any Host header (fetch would not). */
function rawPost(port: number, path: string, host: string, body: unknown): Promise<{ status: number; body: { code?: string; error?: string } }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let answer = '';
      res.on('data', (d: Buffer) => (answer += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(answer) as { code?: string } }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** The same question as ClickHouse answers it on the pipeline's own session (not read-only, no guards). */
async function direct(query: string): Promise<unknown[][]> {
  const rs = await a.client.query({ query, format: 'JSONCompact', clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
  return ((await rs.json()) as { data: unknown[][] }).data;
}

/** What the store holds: rows per table, and the tables, to show that a refused query changed nothing. */
async function storeState() {
  const tables = await direct("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name");
  const counts = await direct('SELECT (SELECT count() FROM requests), (SELECT count() FROM block_events), (SELECT count() FROM detections), (SELECT count() FROM rate_limit_events)');
  return { tables, counts };
}

beforeAll(async () => {
  dir = tempDir('ipwatch-sql');
  copyFileSync(LOG, join(dir, 'access.log'));
  appendFileSync(join(dir, 'access.log'), HOSTILE);
  const replay = await runCli(['replay', 'access.log', '--app', 'shop', '--shift-to-now'], REPLAY_ENV, dir);
  assert.equal(replay.code, 0, replay.stderr);
  const dataDir = join(dir, '.ipwatch');
  a = await openAnalytics({ clickhouse: null, dataDir });
  const config = { ...loadConfig({}), dataDir };

  // The api as `ipwatch run api` makes it, on this store: the SQL service, the privacy service (its audit log), a named token.
  log = createMemoryEventLog();
  view = await openListsView(log, () => {});
  await view.ready;
  privacy = createPrivacyService({ analytics: a, config, view });
  sql = createSqlService({ analytics: a, config });
  const port = await listen(createApiApp({ analytics: a, token: TOKEN, privacy, sql }));
  base = `http://127.0.0.1:${port}`;
  env = { IPWATCH_API_HOST: '127.0.0.1', IPWATCH_API_PORT: String(port), IPWATCH_API_TOKEN: TOKEN, IPWATCH_METRICS_PORT: '0' };
  // The same store behind an api started with IPWATCH_SQL_MAX_ROWS_READ=1000 (its own read-only session and guards).
  limitedSql = createSqlService({ analytics: a, config: { ...config, sql: loadConfig({ IPWATCH_SQL_MAX_ROWS_READ: '1000' }).sql } });
  limitedEnv = { ...env, IPWATCH_API_PORT: String(await listen(createApiApp({ analytics: a, token: TOKEN, sql: limitedSql }))) };
  // And one without a token: loopback names only.
  openPort = await listen(createApiApp({ analytics: a, token: null, sql }));
}, 240_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await view?.stop();
  await log?.close();
  await sql?.close();
  await limitedSql?.close();
  await privacy?.close();
  await a?.close();
});

test('a cookbook query in table, JSON and CSV: the rows ClickHouse counts, with what was read and the audit id', async () => {
  const expected = await direct(`SELECT toStartOfMinute(ts) AS minute, count() AS requests, countIf(status >= 400) AS errors FROM requests WHERE ip = toIPv6('${IP}') GROUP BY minute ORDER BY minute`);
  assert.equal(expected.reduce((n, r) => n + Number(r[1]), 0), 364, 'all the client\'s requests are in the last 7 days');
  const footer = /^(\d+) rows, read ([\d,]+) rows in \d+ ms \(audit id ([0-9a-f-]{36})\)$/m;

  // JSON: the api's answer, its rows exactly ClickHouse's.
  const json = await sqlCli([CLIENT_PER_MINUTE.sql, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const answer = JSON.parse(json.stdout) as SqlResult & { auditId: string; limits: Record<string, number> };
  assert.deepEqual(answer.columns, [{ name: 'minute', type: "DateTime('UTC')" }, { name: 'requests', type: 'UInt64' }, { name: 'errors', type: 'UInt64' }]);
  assert.deepEqual(answer.rows, expected);
  assert.ok(answer.rowsRead >= 364 && answer.bytesRead > 0, `read ${answer.rowsRead} rows`);
  assert.deepEqual(answer.limits, loadConfig({}).sql);
  assert.equal(footer.exec(json.stderr)?.[3], answer.auditId, json.stderr);

  // The table: a header, a rule, a line per row, numbers right-aligned; the footer on stderr.
  const table = await sqlCli([CLIENT_PER_MINUTE.sql]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^minute\s+requests\s+errors$/);
  assert.match(lines[1]!, /^-+ {2}-+ {2}-+$/);
  assert.equal(lines.length, expected.length + 2);
  const widths = lines[1]!.split('  ').map((d) => d.length);
  expected.forEach((r, i) => {
    const line = lines[i + 2]!;
    assert.ok(line.startsWith(String(r[0])), line);
    assert.equal(line.slice(widths[0]! + 2, widths[0]! + 2 + widths[1]!), String(r[1]).padStart(widths[1]!), `requests right-aligned: ${line}`);
    assert.ok(line.endsWith(` ${String(r[2])}`), line);
  });
  const m = footer.exec(table.stderr);
  assert.ok(m, table.stderr);
  assert.equal(Number(m[1]), expected.length);
  assert.notEqual(m[3], answer.auditId, 'each run is its own audit entry');

  // CSV: the column names, then the rows.
  const csv = await sqlCli([CLIENT_PER_MINUTE.sql, '--format', 'csv']);
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(csv.stdout, `minute,requests,errors\n${expected.map((r) => r.join(',')).join('\n')}\n`);

  // The same query from a file and from stdin.
  writeFileSync(join(dir, 'per-minute.sql'), CLIENT_PER_MINUTE.sql);
  const fromFile = await sqlCli(['--file', 'per-minute.sql', '--format', 'json']);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.deepEqual((JSON.parse(fromFile.stdout) as SqlResult).rows, expected);
  const fromStdin = await sqlCliWithStdin(['-', '--format', 'csv'], CLIENT_PER_MINUTE.sql);
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(fromStdin.stdout, csv.stdout);

  // The api's CSV: a file named by its audit entry, never cached.
  const res = await fetch(`${base}/api/v1/sql`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: CLIENT_PER_MINUTE.sql, format: 'csv' }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="ipwatch-sql-${res.headers.get('x-ipwatch-audit-id')}.csv"`);
  assert.equal(await res.text(), csv.stdout);
}, 120_000);

test('every kind of query that writes, changes a setting or reaches files or the network is refused by ClickHouse (exit 2), and the store is unchanged', async () => {
  const before = await storeState();
  const forbidden = [
    "INSERT INTO block_events (target, action) VALUES ('203.0.113.1', 'block')",
    'ALTER TABLE requests DELETE WHERE 1',
    'DROP TABLE detections',
    'SYSTEM DROP MARK CACHE',
    'SET readonly = 0',
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1', system.one)",
  ];
  for (const query of forbidden) {
    const cli = await sqlCli([query]);
    assert.equal(cli.code, 2, `${query}: ${cli.stderr}`);
    assert.equal(cli.stdout, '', query);
    assert.match(cli.stderr, /^ipwatch sql: refused: ipwatch sql runs queries read-only \(ClickHouse readonly=1\).*Ask the tables with SELECT/, query);
    const api = await post(`${base}/api/v1/sql`, { query });
    assert.equal(api.status, 403, query);
    assert.equal(api.body.code, 'IPWATCH_SQL_REFUSED', query);
  }
  assert.deepEqual(await storeState(), before, 'nothing written, altered or dropped');
  assert.deepEqual(await direct("SELECT count() FROM block_events WHERE target = '203.0.113.1'"), [['0']]);
}, 120_000);

test('an api with IPWATCH_SQL_MAX_ROWS_READ=1000 stops a query that reads more, naming the variable; the other api\'s guards are its own', async () => {
  const query = 'SELECT uniqExact(path) AS paths FROM requests';
  const stopped = await runCli(['sql', query], limitedEnv, dir);
  assert.equal(stopped.code, 2, stopped.stderr);
  assert.match(stopped.stderr, /^ipwatch sql: stopped: the query would read more than 1,000 rows \(IPWATCH_SQL_MAX_ROWS_READ\)\. Narrow it .* or raise IPWATCH_SQL_MAX_ROWS_READ\./);
  const api = await post(`http://127.0.0.1:${limitedEnv.IPWATCH_API_PORT}/api/v1/sql`, { query });
  assert.equal(api.status, 422);
  assert.equal(api.body.code, 'IPWATCH_SQL_LIMIT');
  // A query within the limit still answers there, and the api without the limit answers the first.
  assert.equal((await runCli(['sql', 'SELECT 1 AS one'], limitedEnv, dir)).code, 0);
  const unlimited = await sqlCli([query, '--format', 'json']);
  assert.equal(unlimited.code, 0, unlimited.stderr);
  assert.deepEqual((JSON.parse(unlimited.stdout) as SqlResult).rows, await direct(query));
}, 60_000);

test('no token, no query; without a token the api answers loopback names only', async () => {
  const query = { query: 'SELECT count() FROM requests' };
  const noToken = await post(`${base}/api/v1/sql`, query, null);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.body.code, 'IPWATCH_BAD_TOKEN');
  assert.equal((await post(`${base}/api/v1/sql`, query, 'analyst:wrong')).status, 401);
  const cli = await sqlCli(['SELECT 1'], { IPWATCH_API_TOKEN: '' });
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /^ipwatch sql: .*token/i);
  // An api without a token: a request addressed to another name (DNS rebinding) is refused, loopback answers.
  const rebound = await rawPost(openPort, '/api/v1/sql', 'ipwatch.example:7070', query);
  assert.equal(rebound.status, 403);
  assert.equal(rebound.body.code, 'IPWATCH_LOOPBACK_ONLY');
  const local = await rawPost(openPort, '/api/v1/sql', `127.0.0.1:${openPort}`, query);
  assert.equal(local.status, 200, JSON.stringify(local.body));
  // Bad bodies, refused by name.
  const unknownField = await post(`${base}/api/v1/sql`, { query: 'SELECT 1', sql: 'SELECT 2' });
  assert.equal(unknownField.body.code, 'IPWATCH_UNKNOWN_PARAMETER');
  assert.match(unknownField.body.error!, /does not take the field "sql".*it takes query, format/);
  assert.equal((await post(`${base}/api/v1/sql`, { query: 'SELECT 1', format: 'xml' })).body.code, 'IPWATCH_USAGE');
  assert.equal((await post(`${base}/api/v1/sql`, { query: '' })).body.code, 'IPWATCH_USAGE');
  const form = await fetch(`${base}/api/v1/sql`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'query=SELECT+1' });
  assert.equal(form.status, 415);
  // Without the service: 503, saying which api to call.
  const bare = await listen(createApiApp({ analytics: a, token: TOKEN }));
  const unavailable = await runCli(['sql', 'SELECT 1'], { ...env, IPWATCH_API_PORT: String(bare) }, dir);
  assert.equal(unavailable.code, 1);
  assert.match(unavailable.stderr, /without the SQL service/);
}, 60_000);

test('the audit log lists each query under the token\'s name, completed or refused, with its text', async () => {
  const marker = `audit-${Date.now()}`;
  assert.equal((await sqlCli([`SELECT '${marker}' AS m`])).code, 0);
  assert.equal((await sqlCli([`DROP TABLE requests /* ${marker} */`])).code, 2);
  assert.equal((await sqlCli([`SELECT nope FROM requests /* ${marker} */`])).code, 2);
  const entries = (await a.listAudit({ action: 'query', limit: 1000 })).filter((e) => e.note.includes(marker));
  assert.deepEqual(entries.map((e) => e.outcome).sort(), ['completed', 'failed', 'refused']);
  for (const e of entries) {
    assert.equal(e.actor, 'analyst');
    assert.equal(e.subjectKind, 'sql');
  }
  const completed = entries.find((e) => e.outcome === 'completed')!;
  assert.equal(completed.note, `SELECT '${marker}' AS m`);
  assert.deepEqual(completed.rows.returned, 1);
  assert.match(entries.find((e) => e.outcome === 'refused')!.note, /^IPWATCH_SQL_REFUSED \| DROP TABLE requests/);
  // As the operator reads it.
  const audit = await runCli(['privacy', 'audit', '--action', 'query'], env, dir);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /analyst\s+query\s+sql\s+completed/);
  assert.match(audit.stdout, /analyst\s+query\s+sql\s+refused/);
}, 60_000);

test('a path and user agent holding markup and terminal escapes are printed as text in the table, exactly in JSON', async () => {
  // The stored path has the escape percent-encoded (the replay's doing); decoding it in SQL gives the raw escape back.
  const decoded = await sqlCli(["SELECT decodeURLComponent(path) AS decoded, user_agent FROM requests WHERE ip = toIPv6('198.51.100.66')"], { COLUMNS: '100' });
  assert.equal(decoded.code, 0, decoded.stderr);
  assert.ok(!decoded.stdout.includes(ESC), 'no escape reaches the terminal');
  assert.equal(decoded.stdout.split('\n')[2], '/search?q=<script>alert(1)</script>\uFFFD[31mred\uFFFD[0m  evil \uFFFD]0;owned\uFFFD\\ <b>bot</b>', 'markup as the text it is, each escape one U+FFFD');
  // Wider than the terminal: the widest cells cut with …, every line within its 80 columns.
  const query = "SELECT path, decodeURLComponent(path) AS decoded, user_agent FROM requests WHERE ip = toIPv6('198.51.100.66')";
  const table = await sqlCli([query], { COLUMNS: '80' });
  assert.equal(table.code, 0, table.stderr);
  assert.ok(!table.stdout.includes(ESC));
  assert.match(table.stdout, /…/, 'long cells cut to fit');
  for (const line of table.stdout.trimEnd().split('\n')) assert.ok(Array.from(line).length <= 80, `fits 80 columns: ${line}`);
  const json = await sqlCli([query, '--format', 'json']);
  const row = (JSON.parse(json.stdout) as SqlResult).rows[0] as string[];
  assert.ok(row[1]!.includes(`${ESC}[31mred${ESC}[0m`), `the decoded path exactly: ${JSON.stringify(row[1])}`);
  assert.ok(row[1]!.includes('<script>alert(1)</script>'));
  const asCsv = await sqlCli(["SELECT '=HYPERLINK(\"http://evil.example\")' AS link, -3 AS n", '--format', 'csv']);
  assert.equal(asCsv.stdout, 'link,n\n"\'=HYPERLINK(""http://evil.example"")",-3\n', 'a formula is text to a spreadsheet; a negative number stays a number');
}, 60_000);

test('with IPWATCH_CLICKHOUSE_URL set the query goes to the ClickHouse server directly, or through the api with --via-api', async () => {
  // Nothing listens on port 9 here: the direct path says the server does not answer (it never reached the api).
  const server = { IPWATCH_CLICKHOUSE_URL: 'http://127.0.0.1:9' };
  const directRun = await sqlCli(['SELECT 1'], server);
  assert.equal(directRun.code, 1, directRun.stderr);
  assert.match(directRun.stderr, /cannot reach ClickHouse at http:\/\/127\.0\.0\.1:9/);
  const viaApi = await sqlCli(['SELECT 1 AS one', '--via-api', '--format', 'csv'], server);
  assert.equal(viaApi.code, 0, viaApi.stderr);
  assert.equal(viaApi.stdout, 'one\n1\n');
}, 60_000);
