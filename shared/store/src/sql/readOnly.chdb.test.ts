/**
 * The analysts' query runner on a real chDB: its own session over the store's data directory,
 * read-only with ClickHouse's guards. Every forbidden kind of query is refused by ClickHouse (not
 * by parsing the text), each limit stops a query with a message naming its variable, and the
 * pipeline's session goes on writing.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAnalytics, migrate, type Analytics } from '../index.ts';
import { openReadOnlyQueries, SqlInvalidError, SqlLimitError, SqlRefusedError, type ReadOnlyQueries } from './readOnly.ts';

const LIMITS = { maxRowsRead: 50_000, maxResultRows: 100, maxResultBytes: 1024 * 1024, maxSeconds: 2, maxMemoryMb: 512 };
let a: Analytics;
let q: ReadOnlyQueries;
const dataDir = mkdtempSync(join(tmpdir(), 'ipwatch-sql-'));

async function insertRequests(n: number, ip: string) {
  const at = new Date().toISOString().replace('T', ' ').replace('Z', '');
  const base = { ts: at, ip_anonymisation: 'off', app: 'shop', instance: 't', method: 'GET', host: 'h', status: 200, latency_ms: 1, bytes: 0, user_agent: 'ua', referer: '', user_id: null, authenticated: false, blocked: false, rate_limited: false, login: 'none', login_user: null, country: 'FR', region: '', city: '', asn: 0, org: '', geo_source: 'none', enriched_at: at, log_epoch: 't', kafka_partition: 0 };
  await a.client.insert({ table: 'requests', format: 'JSONEachRow', values: Array.from({ length: n }, (_, i) => ({ ...base, event_id: `${ip}-${i}-${Math.random()}`, ip: `::ffff:${ip}`, path: `/p${i}`, kafka_offset: i })) });
}

beforeAll(async () => {
  a = await openAnalytics({ clickhouse: null, dataDir });
  await migrate(a);
  await insertRequests(300, '203.0.113.9');
  q = await openReadOnlyQueries({ clickhouse: null, dataDir }, LIMITS);
}, 60_000);

afterAll(async () => {
  await q?.close();
  await a?.close();
});

test('a SELECT answers with its columns, types, rows and what it read', async () => {
  const r = await q.run("SELECT country, count() AS n FROM requests WHERE ip = toIPv6('::ffff:203.0.113.9') GROUP BY country");
  assert.deepEqual(r.columns, [{ name: 'country', type: 'LowCardinality(String)' }, { name: 'n', type: 'UInt64' }]);
  assert.deepEqual(r.rows, [['FR', '300']], '64-bit integers as strings');
  assert.ok(r.rowsRead >= 300);
});

test('every kind of query that writes, changes settings or reaches files or the network is refused by ClickHouse', async () => {
  const forbidden = [
    "INSERT INTO block_events (target) VALUES ('x')",
    'ALTER TABLE requests DELETE WHERE 1',
    'DROP TABLE requests',
    'TRUNCATE TABLE detections',
    'CREATE TABLE t (x UInt8) ENGINE = Memory',
    'SYSTEM DROP MARK CACHE',
    'SET readonly = 0',
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1', system.one)",
    "INSERT INTO FUNCTION file('/tmp/ipwatch-sql-out.csv', 'CSV') SELECT 1",
    'SELECT count() FROM requests SETTINGS max_rows_to_read = 0',
  ];
  for (const sql of forbidden) {
    await assert.rejects(q.run(sql), (e: Error) => {
      assert.ok(e instanceof SqlRefusedError, `${sql}: ${e.constructor.name} ${e.message}`);
      assert.match(e.message, /read-only/);
      return true;
    });
  }
  // The pipeline's own session still writes.
  await insertRequests(5, '198.51.100.4');
  assert.deepEqual((await q.run("SELECT count() FROM requests WHERE ip = toIPv6('::ffff:198.51.100.4')")).rows, [['5']]);
});

test('each limit stops a query and names its variable', async () => {
  await assert.rejects(q.run('SELECT sum(number) FROM numbers(1000000)'), (e: Error) => e instanceof SqlLimitError && /IPWATCH_SQL_MAX_ROWS_READ/.test(e.message) && /50,000 rows/.test(e.message));
  await assert.rejects(q.run('SELECT number FROM numbers(1000)'), (e: Error) => e instanceof SqlLimitError && /IPWATCH_SQL_MAX_RESULT_ROWS/.test(e.message));
  await assert.rejects(q.run("SELECT repeat('x', 100000) FROM numbers(50)"), (e: Error) => e instanceof SqlLimitError && /IPWATCH_SQL_MAX_RESULT_BYTES/.test(e.message));
  // chDB caps sleep per block at 3 s: 3 blocks of 0.9 s pass the 2 s limit.
  await assert.rejects(q.run('SELECT sleepEachRow(0.9) FROM numbers(3)'), (e: Error) => e instanceof SqlLimitError && /IPWATCH_SQL_MAX_SECONDS/.test(e.message));
  // After each refusal the next answer is whole and its own.
  assert.deepEqual((await q.run('SELECT 42 AS answer')).rows, [[42]]);
  await assert.rejects(q.run('SELEC 1'), (e: Error) => e instanceof SqlInvalidError && /Syntax error/.test(e.message));
  await assert.rejects(q.run('SELECT * FROM no_such_table'), (e: Error) => e instanceof SqlInvalidError && /no_such_table/.test(e.message));
});
