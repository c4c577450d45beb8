/**
 * Export and erasure on real traffic: ../shared/data/apache-combined-2015.log replayed through
 * the embedded pipeline (`ipwatch replay`), then the store's exportSubject and eraseSubject on
 * chDB. The export holds every row stored about the address (counted against ClickHouse); the
 * erasure, stopped half-way by an injected crash and run again, leaves no table or rollup holding
 * it, other clients' rows and the rollups' figures as ClickHouse counts them, and the audit log
 * recording the acts without the address.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InjectedCrash, PERSONAL_TABLES, openAnalytics, parseSubject, type Analytics, type PersonalStateHolder, type PrivacySubject } from '@ipwatch/store';
import { runCli, tempDir } from './support/cli.ts';
import { countOf, rowsOf, storeDefence, whereIs as storedAbout } from './support/privacyRows.ts';

const LOG = fileURLToPath(new URL('../../shared/data/apache-combined-2015.log', import.meta.url));
// The log is of May 2015: every table keeps it (5000 days stays inside DateTime's range for the TTL).
const KEEP = '5000';
const ENV = {
  IPWATCH_API_PORT: '1',
  IPWATCH_METRICS_PORT: '0',
  IPWATCH_RETENTION_DAYS: KEEP,
  IPWATCH_RETENTION_RATE_LIMIT_DAYS: KEEP,
  IPWATCH_RETENTION_DETECTIONS_DAYS: KEEP,
  IPWATCH_RETENTION_BLOCK_EVENTS_DAYS: KEEP,
  IPWATCH_RETENTION_ROLLUP_DAYS: KEEP,
};
/** 364 requests in the log, over several hours and days. */
const IP = '46.105.14.53';
const COLUMN = `::ffff:${IP}`;

let a: Analytics;

const rows = <T>(query: string, params: Record<string, unknown> = {}) => rowsOf<T>(a, query, params);
const count = (query: string, params: Record<string, unknown> = {}) => countOf(a, query, params);

/** Where the address is: rows per table, rollup buckets whose sketches name it, and other requests naming it in a path or referer. */
async function whereIs(ip: string) {
  return {
    ...(await storedAbout(a, ip)),
    named: await count('SELECT count() AS n FROM requests WHERE position(path, {ip:String}) > 0 OR position(referer, {ip:String}) > 0', { ip }),
    pathSketch: await count(
      "SELECT count() AS n FROM (SELECT hour FROM requests_top_hourly WHERE dimension = 'path' GROUP BY hour HAVING arrayExists(x -> position(x.1, {ip:String}) > 0, approx_top_countMerge(100, 1000)(sketch)))",
      { ip },
    ),
  };
}

/** A detection of the client that blocked (its view writes a block_events row too), a rate-limit refusal, a manual unblock. */
async function defenceRows(ip: string, ts: string) {
  await storeDefence(a, ip, ts, 'block');
  await a.insertBlockEvents({ ts: Date.parse(`${ts.replace(' ', 'T')}Z`), action: 'unblock', target: ip, reason: 'lifted', source: 'manual', severity: '', expires_at: null, actor: 'admin', note: '' });
}

/** A holder outside ClickHouse (what Redis or a cache would be), recording what it was asked. */
function memoryHolder(): PersonalStateHolder & { keys: Set<string> } {
  const keys = new Set([`rl:anonymous:${IP}`, 'rl:anonymous:198.51.100.1']);
  const mine = (s: PrivacySubject) => [...keys].filter((k) => s.kind !== 'user' && k.endsWith(`:${s.text}`));
  return {
    place: 'test holder',
    keys,
    async find(s) {
      return mine(s).map((k) => ({ kind: 'rate-limit counter', name: k, expiresAt: null, detail: '' }));
    },
    async forget(s) {
      const m = mine(s);
      for (const k of m) keys.delete(k);
      return m.length;
    },
  };
}

beforeAll(async () => {
  const dir = tempDir('ipwatch-privacy-store');
  copyFileSync(LOG, join(dir, 'access.log'));
  const replay = await runCli(['replay', 'access.log', '--app', 'shop'], ENV, dir);
  assert.equal(replay.code, 0, replay.stderr);
  a = await openAnalytics({ clickhouse: null, dataDir: join(dir, '.ipwatch') });
  await defenceRows(IP, '2015-05-18 10:00:00.000');
  // An operator looking the address up: the dashboard's own log names it in a path and a referer.
  const at = '2015-05-18 10:00:00.000';
  await a.client.insert({
    table: 'requests',
    format: 'JSONEachRow',
    values: [{ event_id: 'dash-1', ts: at, ip: '::ffff:127.0.0.1', ip_anonymisation: 'off', app: 'ipwatch-dashboard', instance: 't', method: 'GET', host: '127.0.0.1:7070', path: `/clients/${IP}`, status: 200, latency_ms: 3, bytes: 100, user_agent: 'Mozilla/5.0', referer: `http://127.0.0.1:7070/clients/${IP}?hours=24`, user_id: null, authenticated: true, blocked: false, rate_limited: false, login: 'none', login_user: null, country: '', region: '', city: '', asn: 0, org: '', geo_source: 'loopback', enriched_at: at, log_epoch: 'test', kafka_partition: 0, kafka_offset: 999 }],
  });
  await defenceRows('75.97.9.59', '2015-05-18 10:00:00.000');
}, 180_000);

afterAll(async () => {
  await a?.close();
});

test('every column of the personal tables has a meaning in the export', async () => {
  for (const t of PERSONAL_TABLES) {
    const columns = (await rows<{ name: string }>('SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}', { t: t.table })).map((c) => c.name);
    assert.deepEqual(Object.keys(t.fields).sort(), columns.sort(), `${t.table}: the catalog's fields are its columns`);
  }
});

test('an export holds every row stored about the address, each field explained; an unknown address is nothing found', async () => {
  const holder = memoryHolder();
  const stored = await whereIs(IP);
  assert.equal(stored.requests, 364);
  assert.ok(stored.hourly > 0 && stored.detections === 1 && stored.rate_limit_events === 1);
  const e = await a.exportSubject(parseSubject({ ip: IP }), { actor: 'dpo', holders: [holder] });
  const byTable = Object.fromEntries(e.tables.map((t) => [t.table, t]));
  // Its own requests, and the operator's request naming it.
  assert.equal(byTable.requests!.rows.length, stored.requests + 1);
  assert.equal(stored.named, 1);
  assert.equal(byTable.rate_limit_events!.rows.length, 1);
  assert.equal(byTable.detections!.rows.length, 1);
  // The unblock written here and the block the detection's view wrote.
  assert.equal(byTable.block_events!.rows.length, 2);
  assert.deepEqual([...new Set(byTable.requests!.rows.map((r) => r.ip))].sort(), ['127.0.0.1', IP], 'addresses as text');
  assert.equal(e.total, stored.requests + 5);
  assert.deepEqual(e.held, [{ place: 'test holder', items: [{ kind: 'rate-limit counter', name: `rl:anonymous:${IP}`, expiresAt: null, detail: '' }] }]);
  assert.match(byTable.requests!.fields.user_agent!, /User-Agent/);

  const none = await a.exportSubject(parseSubject({ ip: '192.0.2.200' }), { actor: 'dpo' });
  assert.equal(none.total, 0);
  const audit = await a.listAudit({ action: 'export' });
  assert.deepEqual(audit.slice(0, 2).map((x) => [x.outcome, x.subjectKind, x.subjectBits, x.actor]), [['nothing_found', 'ip', 32, 'dpo'], ['completed', 'ip', 32, 'dpo']]);
  assert.equal(audit[1]!.rows.requests, 365);
  assert.ok(!JSON.stringify(audit).includes(IP), 'the audit log holds no address');
});

test('an erasure stopped half-way finishes when run again: no table or rollup holds the address, the others are untouched, the audit log records it', async () => {
  const holder = memoryHolder();
  const subject = parseSubject({ ip: IP });
  const others = await count('SELECT count() AS n FROM requests WHERE ip != toIPv6({c:String})', { c: COLUMN });
  const neighbour = await whereIs('75.97.9.59');

  await expect(a.eraseSubject(subject, { actor: 'dpo', holders: [holder], crashAfter: 'delete:requests' })).rejects.toBeInstanceOf(InjectedCrash);
  const half = await whereIs(IP);
  assert.equal(half.requests, 0);
  assert.ok(half.hourly > 0, 'stopped before the rollups: their sketches still name it');
  assert.equal((await a.pendingErasures()).length, 1);

  const report = await a.eraseSubject(subject, { actor: 'dpo', holders: [holder], remaining: [{ place: 'Kafka', what: 'events', until: 1 }] });
  assert.equal(report.resumed, true);
  assert.equal(report.nothingFound, false);
  assert.deepEqual(await whereIs(IP), { requests: 0, rate_limit_events: 0, detections: 0, block_events: 0, named: 0, pathSketch: 0, hourly: 0, fiveMinutes: 0 });
  assert.deepEqual(await rows("SELECT path, referer FROM requests WHERE event_id = 'dash-1'"), [{ path: '/clients/[erased]', referer: 'http://127.0.0.1:7070/clients/[erased]?hours=24' }], 'the operator\'s request kept, the address cut out');
  assert.deepEqual(report.forgotten, { 'test holder': 1 });
  assert.deepEqual([...holder.keys], ['rl:anonymous:198.51.100.1']);
  assert.deepEqual(await a.pendingErasures(), []);
  assert.deepEqual(report.remaining, [{ place: 'Kafka', what: 'events', until: 1 }]);

  // Everyone else as before, and the rollups as ClickHouse counts the requests that remain.
  assert.equal(await count('SELECT count() AS n FROM requests'), others);
  // (others counts the operator's request, which stays.)
  assert.deepEqual(await whereIs('75.97.9.59'), neighbour);
  assert.equal(await count('SELECT sum(requests) AS n FROM requests_per_minute'), others);
  const minutes = await rows<{ m: number; u: number; x: number }>(
    `SELECT p.m AS m, p.u AS u, r.x AS x FROM
       (SELECT toUInt32(minute) AS m, uniqMerge(unique_ips) AS u FROM requests_per_minute GROUP BY m) AS p
       INNER JOIN (SELECT toUInt32(toStartOfMinute(ts)) AS m, uniqExact(ip) AS x FROM requests GROUP BY m) AS r ON p.m = r.m`,
  );
  // The log's requests fall in one minute of each hour (84 in all).
  assert.ok(minutes.length >= 80, `${minutes.length} minutes compared`);
  assert.deepEqual(minutes.filter((r) => Number(r.u) !== Number(r.x)), [], 'distinct clients per minute as in requests');
  const hourly = await rows<{ h: number; n: number; x: number }>(
    `SELECT h, n, x FROM (SELECT toUInt32(hour) AS h, uniqMerge(keys) AS n FROM requests_top_hourly WHERE dimension = 'client' GROUP BY h) AS s
     INNER JOIN (SELECT toUInt32(toStartOfHour(ts)) AS h, uniqExact(toString(ip)) AS x FROM requests GROUP BY h) AS r USING h`,
  );
  assert.deepEqual(hourly.filter((r) => Number(r.n) !== Number(r.x)), [], 'distinct clients per hour as in requests');

  const audit = (await a.listAudit({ action: 'erase' })).slice(0, 3);
  assert.deepEqual(audit.map((x) => x.outcome), ['completed', 'started', 'started']);
  assert.equal(audit[2]!.rows.requests, 364, 'the first run counted what it was removing');
  assert.match(audit[0]!.note, /stopped half-way/);
  assert.ok(!JSON.stringify(audit).includes(IP));

  // chDB keeps a client's settings for the session: the erasure's own must not outlive it (the sink
  // relies on deduplication). chDB's own defaults: deduplication on, mutations_sync 1, aliases first.
  assert.deepEqual(await rows("SELECT getSetting('insert_deduplicate') AS d, getSetting('mutations_sync') AS m, getSetting('prefer_column_name_to_alias') AS p"), [{ d: true, m: 1, p: false }]);

  // Again: nothing left, not an error.
  const again = await a.eraseSubject(subject, { actor: 'dpo', holders: [holder] });
  assert.equal(again.nothingFound, true);
  assert.equal((await a.listAudit({ action: 'erase' }))[0]!.outcome, 'nothing_found');
});

test('a user is erased from the rows about them; another client\'s login naming them keeps the row without the name', async () => {
  const at = '2015-05-19 08:00:00.000';
  const base = { ts: at, ip_anonymisation: 'off', app: 'shop', instance: 't', method: 'POST', host: 'shop', status: 401, latency_ms: 1, bytes: 0, user_agent: 'ua', referer: '', authenticated: false, blocked: false, rate_limited: false, country: '', region: '', city: '', asn: 0, org: '', geo_source: 'none', enriched_at: at, log_epoch: 'test', kafka_partition: 0 };
  await a.client.insert({
    table: 'requests',
    format: 'JSONEachRow',
    values: [
      { ...base, event_id: 'u1', ip: '::ffff:198.51.100.7', path: '/account', user_id: 'alice@example.com', login: 'none', login_user: null, kafka_offset: 901 },
      { ...base, event_id: 'u2', ip: '::ffff:198.51.100.66', path: '/login', user_id: null, login: 'failed', login_user: 'alice@example.com', kafka_offset: 902 },
    ],
  });
  await a.client.insert({
    table: 'detections',
    format: 'JSONEachRow',
    values: [
      { id: 'det-stuffing', ts: at, ip: '::ffff:198.51.100.66', client: '198.51.100.66', rule: 'credential-stuffing', severity: 'high', mode: 'live', score: 9, count: 9, threshold: 5, window_start: at, window_end: at, evidence: { usernames: 'bob\nalice@example.com' }, action: 'flag', offence: 1, log_epoch: 'test', kafka_partition: 0, kafka_offset: 903 },
      // account-attack names the attacked account (lower case) apart from the usernames typed.
      { id: 'det-account', ts: at, ip: '::ffff:198.51.100.67', client: '198.51.100.67', rule: 'account-attack', severity: 'high', mode: 'live', score: 6, count: 6, threshold: 5, window_start: at, window_end: at, evidence: { account: 'alice@example.com', clients: '198.51.100.66\n198.51.100.67' }, action: 'flag', offence: 0, log_epoch: 'test', kafka_partition: 0, kafka_offset: 904 },
    ],
  });
  const subject = parseSubject({ user: 'alice@example.com' });
  const e = await a.exportSubject(subject, { actor: 'dpo' });
  // Their own request, the other client's login naming them, the detection whose evidence names them.
  assert.deepEqual(e.tables.map((t) => [t.table, t.rows.length]), [['requests', 2], ['rate_limit_events', 0], ['detections', 2], ['block_events', 0]]);

  const report = await a.eraseSubject(subject, { actor: 'dpo' });
  assert.deepEqual([report.removed.requests, report.scrubbed.requests, report.scrubbed.detections], [1, 1, 2]);
  assert.equal(await count("SELECT count() AS n FROM requests WHERE user_id = 'alice@example.com' OR login_user = 'alice@example.com'"), 0);
  assert.equal(await count("SELECT count() AS n FROM requests WHERE event_id = 'u2' AND login = 'failed'"), 1, 'the other client\'s attempt is kept');
  assert.deepEqual(await rows("SELECT evidence['usernames'] AS u FROM detections WHERE id = 'det-stuffing'"), [{ u: 'bob' }]);
  assert.deepEqual(await rows("SELECT evidence['account'] AS a, evidence['clients'] AS c FROM detections WHERE id = 'det-account'"), [{ a: '', c: '198.51.100.66\n198.51.100.67' }]);
});
