/**
 * The analysts' cookbook (shared/store/src/sql/cookbook.ts) against real traffic: the public
 * access log in ../shared/data (plus one scanner) replayed to the present with `ipwatch replay
 * --shift-to-now`, detections found by `ipwatch detect`, rate-limit refusals and blocks derived
 * from it. Each query runs read-only as an analyst's would, and its answer equals the same
 * question answered here in JavaScript from the raw rows.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COOKBOOK, openAnalytics, openReadOnlyQueries, type Analytics, type ReadOnlyQueries } from '@ipwatch/store';
import { loadConfig } from '@ipwatch/core/config';
import { runCli, tempDir } from './support/cli.ts';

const LOG = fileURLToPath(new URL('../../shared/data/apache-combined-2015.log', import.meta.url));
const ENV = { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0' };
const SCANNER = '192.0.2.77';
const PROBES = ['/.env', '/.git/config', '/wp-login.php', '/phpmyadmin/', '/backup.sql', '/wp-admin/', '/administrator/', '/config.php.bak'];
const S = 1000;
const H = 3600 * S;
const D = 24 * H;

interface Req { ip: string; t: number; status: number; path: string; country: string }
let a: Analytics;
let q: ReadOnlyQueries;
let dir: string;
let requests: Req[];

async function rows<T>(query: string): Promise<T[]> {
  return (await a.client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<T>();
}
const text = (ip: string) => ip.replace(/^::ffff:/, '');
const by = <T, K>(xs: T[], key: (x: T) => K) => {
  const m = new Map<K, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
};
const cmp = (...keys: Array<(r: unknown[]) => number | string>) => (x: unknown[], y: unknown[]) => {
  for (const k of keys) {
    const [p, q2] = [k(x), k(y)];
    if (p !== q2) return typeof p === 'number' ? (q2 as number) - p : String(p) < String(q2) ? -1 : 1;
  }
  return 0;
};

beforeAll(async () => {
  dir = tempDir('ipwatch-cookbook');
  copyFileSync(LOG, join(dir, 'access.log'));
  // A scanner in the log's last minute: 404s on sensitive paths, which the rules detect.
  for (let i = 0; i < 48; i++) {
    appendFileSync(join(dir, 'access.log'), `${SCANNER} - - [20/May/2015:21:05:${String(i % 60).padStart(2, '0')} +0000] "GET ${PROBES[i % PROBES.length]}?n=${i} HTTP/1.1" 404 12 "-" "sqlmap/1.7"\n`);
  }
  const replay = await runCli(['replay', 'access.log', '--app', 'shop', '--shift-to-now'], ENV, dir);
  assert.equal(replay.code, 0, replay.stderr);
  const detect = await runCli(['detect', '--since', '8d'], ENV, dir);
  assert.equal(detect.code, 0, detect.stderr);
  a = await openAnalytics({ clickhouse: null, dataDir: join(dir, '.ipwatch') });
  // Rate-limit refusals as a 20-a-minute limit (and a 10-a-minute burst rule) would have made them, and blocks.
  for (const [rule, limit] of [['anonymous', 20], ['burst', 10]] as const) {
    await a.client.command({
      query: `INSERT INTO rate_limit_events (ts, ip, rule, limit_key, limit, window_ms, count, path, user_id, app, log_epoch, kafka_partition, kafka_offset)
              SELECT max(ts), ip, '${rule}', toString(ip), ${limit}, 60000, toUInt32(count() - ${limit}), any(path), NULL, 'shop', 'cookbook', 0, 0
              FROM requests GROUP BY ip, toStartOfMinute(ts) HAVING count() > ${limit}`,
    });
  }
  const detected = await rows<{ ip: string }>("SELECT DISTINCT replaceRegexpOne(toString(ip), '^::ffff:', '') AS ip FROM detections ORDER BY ip");
  const now = Date.now();
  await a.insertBlockEvents([
    ...detected.slice(0, 3).map((d, i) => ({ ts: now - (i + 1) * H, action: 'block' as const, target: d.ip, reason: 'probing', source: 'manual', severity: 'high', expires_at: null, actor: 'admin' })),
    { ts: now - 10 * D, action: 'block', target: '203.0.113.0/24', reason: 'import', source: 'import', severity: '', expires_at: null, actor: 'admin' },
    { ts: now - 40 * D, action: 'block', target: '198.51.100.1', reason: 'old', source: 'manual', severity: '', expires_at: null, actor: 'admin' },
    ...(detected[0] ? [{ ts: now - 30 * 60_000, action: 'unblock' as const, target: detected[0].ip, reason: 'lifted', source: 'manual', severity: '', expires_at: null, actor: 'admin' }] : []),
  ]);
  requests = (await rows<Req>('SELECT toString(ip) AS ip, toUnixTimestamp64Milli(ts) AS t, status, path, country FROM requests')).map((r) => ({ ...r, ip: text(r.ip), t: Number(r.t), status: Number(r.status) }));
  q = await openReadOnlyQueries({ clickhouse: null, dataDir: join(dir, '.ipwatch') }, loadConfig({}).sql);
}, 240_000);

afterAll(async () => {
  await q?.close();
  await a?.close();
});

/** The server's clock in ms, so the expected answer uses the same now() as the query. */
async function serverNow(): Promise<number> {
  return Number((await rows<{ n: number }>('SELECT toUnixTimestamp64Milli(now64(3)) AS n'))[0]!.n);
}

/** The query's rows (numbers as numbers) and the expected ones computed at its now(), give or take the second it ran in. */
async function check(id: string, expected: (now: number) => Promise<unknown[][]> | unknown[][]): Promise<unknown[][]> {
  const entry = COOKBOOK.find((e) => e.id === id)!;
  const before = await serverNow();
  const result = await q.run(entry.sql);
  const after = await serverNow();
  const got = result.rows.map((r) => r.map((v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v)));
  const candidates = [await expected(Math.floor(before / S) * S), await expected(Math.floor(after / S) * S)];
  assert.ok(candidates.some((c) => JSON.stringify(c) === JSON.stringify(got)), `${id}: got ${JSON.stringify(got).slice(0, 600)}\nexpected ${JSON.stringify(candidates[0]).slice(0, 600)}`);
  return got;
}

test('every cookbook query runs read-only on the replayed log and answers as the raw rows do', async () => {
  assert.ok(requests.length > 10_000);

  const top = await check('top-error-clients', (now) => {
    const recent = requests.filter((r) => r.t >= now - H);
    return [...by(recent, (r) => r.ip)]
      .map(([ip, rs]) => { const errors = rs.filter((r) => r.status >= 400).length; return [ip, errors, rs.length, Math.round((errors / rs.length) * 1000) / 1000]; })
      .filter((r) => (r[1] as number) > 0)
      .sort(cmp((r) => r[1] as number, (r) => r[0] as string))
      .slice(0, 20);
  });
  assert.equal(top[0]![0], SCANNER, 'the scanner tops the last hour\'s errors');

  const perMinute = await check('client-per-minute', (now) => {
    const mine = requests.filter((r) => r.ip === '46.105.14.53' && r.t >= now - 7 * D);
    return [...by(mine, (r) => Math.floor(r.t / 60_000) * 60_000)]
      .sort((x, y) => x[0] - y[0])
      .map(([m, rs]) => [new Date(m).toISOString().slice(0, 19).replace('T', ' '), rs.length, rs.filter((r) => r.status >= 400).length]);
  });
  assert.ok(perMinute.length > 10);

  await check('new-countries', (now) => {
    const before = new Set(requests.filter((r) => r.t >= now - 8 * D && r.t < now - D).map((r) => r.country));
    const today = requests.filter((r) => r.t >= now - D && r.country !== '' && !before.has(r.country));
    return [...by(today, (r) => r.country)].map(([c, rs]) => [c, rs.length, new Set(rs.map((r) => r.ip)).size]).sort(cmp((r) => r[1] as number, (r) => r[0] as string));
  });

  const detections = (await rows<{ ip: string; rule: string; t: number }>('SELECT toString(ip) AS ip, rule, toUnixTimestamp64Milli(ts) AS t FROM detections')).map((d) => ({ ...d, ip: text(d.ip), t: Number(d.t) }));
  assert.ok(detections.some((d) => d.ip === SCANNER), 'the scanner is detected');
  const probed = await check('paths-probed-by-detected', (now) => {
    const detected = new Set(detections.filter((d) => d.t >= now - 7 * D).map((d) => d.ip));
    const hits = requests.filter((r) => r.t >= now - 7 * D && (r.status === 403 || r.status === 404) && detected.has(r.ip));
    return [...by(hits, (r) => r.path)].map(([p, rs]) => [p, rs.length, new Set(rs.map((r) => r.ip)).size]).sort(cmp((r) => r[1] as number, (r) => r[0] as string)).slice(0, 50);
  });
  assert.ok(probed.some((r) => String(r[0]).startsWith('/.env')));

  const limits = (await rows<{ rule: string; ip: string; count: number; t: number }>('SELECT rule, toString(ip) AS ip, count, toUnixTimestamp64Milli(ts) AS t FROM rate_limit_events')).map((r) => ({ ...r, count: Number(r.count), t: Number(r.t) }));
  const refusals = await check('rate-limit-refusals-by-rule', (now) => {
    const recent = limits.filter((r) => r.t >= now - D);
    return [...by(recent, (r) => r.rule)].map(([rule, rs]) => [rule, rs.reduce((n, r) => n + r.count, 0), rs.length, new Set(rs.map((r) => r.ip)).size]).sort(cmp((r) => r[1] as number, (r) => r[0] as string));
  });
  assert.deepEqual(refusals.map((r) => r[0]).sort(), ['anonymous', 'burst']);

  const blockRows = (await rows<{ source: string; action: string; target: string; t: number }>('SELECT source, action, target, toUnixTimestamp64Milli(ts) AS t FROM block_events')).map((b) => ({ ...b, t: Number(b.t) }));
  const sources = await check('blocks-by-source', (now) => {
    const recent = blockRows.filter((b) => b.t >= now - 30 * D);
    return [...by(recent, (b) => b.source)]
      .map(([source, bs]) => [source, bs.filter((b) => b.action === 'block').length, bs.filter((b) => b.action === 'unblock').length, new Set(bs.filter((b) => b.action === 'block').map((b) => b.target)).size])
      .sort(cmp((r) => r[1] as number, (r) => r[0] as string));
  });
  assert.ok(sources.some((r) => r[0] === 'import') && !JSON.stringify(sources).includes('198.51.100.1'));

  const delays = await check('time-to-detection', (now) => {
    const first = new Map<string, number>();
    for (const r of requests) if (r.t >= now - 8 * D) first.set(r.ip, Math.min(first.get(r.ip) ?? Infinity, r.t));
    const joined = detections.filter((d) => d.t >= now - 7 * D && first.has(d.ip)).map((d) => ({ rule: d.rule, s: Math.floor(d.t / S) - Math.floor(first.get(d.ip)! / S) }));
    return [...by(joined, (j) => j.rule)]
      // quantileExact(0.5): the element at floor(n / 2) of the sorted delays.
      .map(([rule, js]) => [rule, js.length, Math.min(...js.map((j) => j.s)), js.map((j) => j.s).sort((x, y) => x - y)[Math.floor(js.length / 2)], Math.max(...js.map((j) => j.s))])
      .sort(cmp((r) => r[1] as number, (r) => r[0] as string));
  });
  assert.ok(delays.length > 0);

  const traffic = await check('traffic-per-minute', (now) => {
    // The rollup's minutes that start within the last day.
    const recent = requests.filter((r) => Math.floor(r.t / 60_000) * 60_000 >= now - D);
    return [...by(recent, (r) => Math.floor(r.t / 60_000) * 60_000)]
      .sort((x, y) => x[0] - y[0])
      .map(([m, rs]) => [new Date(m).toISOString().slice(0, 19).replace('T', ' '), rs.length, rs.filter((r) => r.status >= 400).length, new Set(rs.map((r) => r.ip)).size]);
  });
  assert.ok(traffic.length > 10);
}, 120_000);
