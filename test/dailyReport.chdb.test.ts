/**
 * The daily report of real traffic: ../shared/data/apache-combined-2015.log (plus one hostile
 * client) replayed through the embedded pipeline with `ipwatch replay`, then `ipwatch report
 * --daily` for one of its days, from the store and through the api. Its figures equal
 * independent ClickHouse queries written here; the HTML carries no raw markup from the data.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { appendFileSync, copyFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAnalytics, type Analytics, type DailyReport } from '@ipwatch/store';
import { createApiApp } from '@ipwatch/api';
import { runCli, tempDir } from './support/cli.ts';

const LOG = fileURLToPath(new URL('../../shared/data/apache-combined-2015.log', import.meta.url));
const DAY = '2015-05-18';
const SINCE = Date.parse(`${DAY}T00:00:00Z`);
const H = 3_600_000;
// The log is of May 2015: kept past the default 90 days (5000 days stays inside DateTime's range for the TTL).
// The day is of 2015: every table keeps it (detections and block history too, 365 days by default).
const ENV = { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0', IPWATCH_RETENTION_DAYS: '5000', IPWATCH_RETENTION_RATE_LIMIT_DAYS: '5000', IPWATCH_RETENTION_DETECTIONS_DAYS: '5000', IPWATCH_RETENTION_BLOCK_EVENTS_DAYS: '5000', IPWATCH_RETENTION_ROLLUP_DAYS: '5000' };
const HOSTILE_PATH = '/<script>alert(1)</script>?a=<b>&c=1';
const HOSTILE_AGENT = '<img src=x onerror=alert(1)>';

async function rows<T>(a: Analytics, query: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await a.client.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return rs.json<T>();
}

test('ipwatch report --daily over a replayed day of real traffic: every figure as ClickHouse counts it, HTML escaped, api and store agree', async () => {
  const dir = tempDir('ipwatch-daily-report');
  copyFileSync(LOG, join(dir, 'access.log'));
  // One client probing with markup in its path and user agent: in the top lists, so in the HTML.
  for (let i = 0; i < 90; i++) {
    const at = `14:${String(5 + Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`;
    appendFileSync(join(dir, 'access.log'), `192.0.2.66 - - [18/May/2015:${at} +0000] "GET ${HOSTILE_PATH} HTTP/1.1" 404 12 "-" "${HOSTILE_AGENT}"\n`);
  }
  const replay = await runCli(['replay', 'access.log', '--app', 'shop'], ENV, dir);
  assert.equal(replay.code, 0, replay.stderr);
  assert.deepEqual(JSON.parse(replay.stdout.trim().split('\n').pop()!), { lines: 10_090, replayed: 10_090, skipped: 0, expired: 0, stored: 10_090 });

  const json = await runCli(['report', '--daily', '--date', DAY, '--format', 'json'], ENV, dir);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as DailyReport;
  const ny = await runCli(['report', '--daily', '--date', DAY, '--tz', 'America/New_York', '--format', 'json'], ENV, dir);
  assert.equal(ny.code, 0, ny.stderr);
  const nyReport = JSON.parse(ny.stdout) as DailyReport;
  const text = await runCli(['report', '--daily', '--date', DAY], ENV, dir);
  assert.equal(text.code, 0, text.stderr);
  const html = await runCli(['report', '--daily', '--date', DAY, '--format', 'html'], ENV, dir);
  assert.equal(html.code, 0, html.stderr);

  // The CLI is done with the store: this process opens it and counts for itself.
  const a = await openAnalytics({ clickhouse: null, dataDir: join(dir, '.ipwatch') });
  try {
    const day = { since: SINCE, until: SINCE + 24 * H };
    const before = { since: SINCE - 24 * H, until: SINCE };
    const range = 'ts >= fromUnixTimestamp64Milli({since:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})';
    const totals = async (r: { since: number; until: number }) =>
      (await rows<Record<string, number>>(a, `SELECT count() AS requests, uniqExact(ip) AS clients, countIf(status >= 500) AS e5, countIf(status >= 400 AND status < 500) AS e4,
                                                     countIf(blocked) AS blocked, countIf(rate_limited) AS limited FROM requests WHERE ${range}`, r))[0]!;
    const [t, p] = [await totals(day), await totals(before)];
    assert.ok(t.requests! > 2000 && p.requests! > 1000, 'the log has traffic on both days');
    const r = report.totals;
    assert.deepEqual(r.requests, { value: t.requests, previous: p.requests, change: (t.requests! - p.requests!) / p.requests! });
    assert.deepEqual([r.uniqueClients.value, r.uniqueClients.previous], [t.clients, p.clients]);
    assert.deepEqual([r.serverErrors.value, r.serverErrors.previous, r.clientErrors.value, r.clientErrors.previous], [t.e5, p.e5, t.e4, p.e4]);
    assert.equal(r.serverErrorRate.value, t.e5! / t.requests!);
    assert.equal(r.clientErrorRate.value, t.e4! / t.requests!);
    assert.deepEqual([r.blocked.value, r.rateLimited.value], [t.blocked, t.limited]);

    const hours = await rows<{ h: number; n: number }>(a, `SELECT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS h, count() AS n FROM requests WHERE ${range} GROUP BY h ORDER BY h`, day);
    assert.equal(report.hourly.length, 24);
    assert.deepEqual(report.hourly.filter((h) => h.requests > 0).map((h) => [h.start, h.requests]), hours.map((h) => [Number(h.h), Number(h.n)]));

    const paths = await rows<{ path: string; n: number }>(a, `SELECT path, count() AS n FROM requests WHERE ${range} GROUP BY path ORDER BY n DESC, path LIMIT 10`, day);
    assert.deepEqual(report.topPaths.map((x) => [x.path, x.requests]), paths.map((x) => [x.path, Number(x.n)]));
    assert.ok(report.topPaths.some((x) => x.path === HOSTILE_PATH), 'the hostile path is a top path');
    const clients = await rows<{ ip: string; n: number }>(a, `SELECT replaceOne(toString(ip), '::ffff:', '') AS ip, count() AS n FROM requests WHERE ${range} GROUP BY ip ORDER BY n DESC, ip LIMIT 10`, day);
    assert.deepEqual(report.topClients.map((x) => [x.ip, x.requests]), clients.map((x) => [x.ip, Number(x.n)]));
    assert.ok(report.topClients.some((x) => x.ip === '192.0.2.66'));
    const countries = await rows<{ c: string; n: number; m: number }>(a, `SELECT toString(country) AS c, countIf(${range}) AS n, countIf(NOT (${range})) AS m FROM requests
                                                                          WHERE ts >= fromUnixTimestamp64Milli({before:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})
                                                                          GROUP BY c HAVING n > 0 ORDER BY n DESC, c LIMIT 10`, { ...day, before: before.since });
    assert.deepEqual(report.topCountries.map((x) => [x.country, x.requests, x.previous]), countries.map((x) => [x.c, Number(x.n), Number(x.m)]));
    const asns = await rows<{ asn: number; n: number }>(a, `SELECT asn, count() AS n FROM requests WHERE ${range} GROUP BY asn ORDER BY n DESC, asn LIMIT 10`, day);
    assert.deepEqual(report.topNetworks.asns.map((x) => [x.asn, x.requests]), asns.map((x) => [Number(x.asn), Number(x.n)]));
    const nets = await rows<{ net: string; n: number }>(a, `SELECT concat(arrayStringConcat(arraySlice(splitByChar('.', replaceOne(toString(ip), '::ffff:', '')), 1, 3), '.'), '.0/24') AS net, count() AS n
                                                             FROM requests WHERE ${range} GROUP BY net ORDER BY n DESC, net LIMIT 10`, day);
    assert.deepEqual(report.topNetworks.prefixes.map((x) => [x.network, x.requests]), nets.map((x) => [x.net, Number(x.n)]));

    // Defence: the scorer ran during the replay (the hostile client is an injection).
    const detections = await rows<{ rule: string; severity: string; n: number }>(a, `SELECT rule, severity, count() AS n FROM detections WHERE ${range} GROUP BY rule, severity ORDER BY rule`, day);
    assert.ok(detections.some((d) => d.rule === 'injection'), JSON.stringify(detections));
    assert.deepEqual(
      report.detections.byRule.filter((d) => d.detections > 0).map((d) => [d.rule, d.severity, d.detections]).sort(),
      detections.map((d) => [d.rule, d.severity, Number(d.n)]).sort(),
    );
    // Every block of a replay is a rule's: one per live detection that blocked.
    const [blocking] = await rows<{ n: number; m: number }>(a, `SELECT countIf(${range}) AS n, countIf(NOT (${range})) AS m FROM detections WHERE action = 'block' AND mode = 'live'
                                                                 AND ts >= fromUnixTimestamp64Milli({before:Int64}) AND ts < fromUnixTimestamp64Milli({until:Int64})`, { ...day, before: before.since });
    assert.deepEqual([r.blocksMade.value, r.blocksMade.previous], [Number(blocking!.n), Number(blocking!.m)]);
    assert.ok(r.blocksMade.value >= 1);
    assert.deepEqual(r.blocksMade, report.blocks.madeByKind.rule);
    const [limits] = await rows<{ n: number }>(a, `SELECT sum(count) AS n FROM rate_limit_events WHERE ${range}`, day);
    assert.equal(r.rateLimitRefusals.value, Number(limits!.n));

    // Another zone, another day: New York's 18 May is 04:00 to 04:00 UTC (EDT).
    const [nyCount] = await rows<{ n: number }>(a, `SELECT count() AS n FROM requests WHERE ${range}`, { since: SINCE + 4 * H, until: SINCE + 28 * H });
    assert.deepEqual([nyReport.timeZone, nyReport.range.since, nyReport.totals.requests.value], ['America/New_York', SINCE + 4 * H, Number(nyCount!.n)]);

    // Text: aligned, the change in words; the hostile path on one line.
    assert.match(text.stdout, new RegExp(`^Requests: +${t.requests!.toLocaleString('en-US')} {3}[+-]\\d+% vs day before$`, 'm'));
    assert.ok(text.stdout.includes(HOSTILE_PATH));
    // HTML: a document; nothing the data holds appears as markup.
    assert.match(html.stdout, /^<!DOCTYPE html>/);
    assert.ok(!html.stdout.includes('<script') && !html.stdout.includes('<b>') && !html.stdout.includes('<img'));
    assert.ok(html.stdout.includes('/&lt;script&gt;alert(1)&lt;/script&gt;?a=&lt;b&gt;&amp;c=1'));
    const stored = [...report.topPaths.map((x) => x.path), ...report.topClients.map((x) => x.org), ...report.topNetworks.asns.map((x) => x.org)];
    for (const s of stored.filter((x) => /[<>&"]/.test(x))) assert.ok(!html.stdout.includes(s), `raw in the HTML: ${s}`);

    // Through the api: the same report (but for when it was made).
    const server = createApiApp({ analytics: a, token: null }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = String((server.address() as AddressInfo).port);
      const viaApi = await runCli(['report', '--daily', '--date', DAY, '--format', 'json'], { ...ENV, IPWATCH_API_PORT: port }, dir);
      assert.equal(viaApi.code, 0, viaApi.stderr);
      assert.doesNotMatch(viaApi.stderr, /reading .* directly/);
      assert.deepEqual({ ...(JSON.parse(viaApi.stdout) as DailyReport), generatedAt: 0 }, { ...report, generatedAt: 0 });
      const bad = await fetch(`http://127.0.0.1:${port}/api/reports/daily?date=2015-02-30&tz=UTC`);
      assert.equal(bad.status, 400);
      assert.deepEqual(await bad.json(), { code: 'IPWATCH_BAD_FILTER', error: 'date "2015-02-30" is not a real day (from 1970 on): give a day the month has, e.g. 2015-02-01' });
      const zone = await fetch(`http://127.0.0.1:${port}/api/reports/daily?tz=Moon/Base`);
      assert.equal(zone.status, 400);
      assert.match(((await zone.json()) as { error: string }).error, /time zone "Moon\/Base" is not known: give an IANA time zone name/);
      const unknown = await fetch(`http://127.0.0.1:${port}/api/reports/daily?day=2015-05-18`);
      assert.equal(unknown.status, 400);
      assert.match(((await unknown.json()) as { error: string }).error, /does not take the parameter "day".*it takes date, tz, top/);
    } finally {
      server.close();
    }
  } finally {
    await a.close();
  }

  // Refusals, with what to type instead.
  const noDaily = await runCli(['report', '--date', DAY], ENV, dir);
  assert.equal(noDaily.code, 2);
  assert.match(noDaily.stderr, /say which report: --daily \(the only report for now\)/);
  const badDate = await runCli(['report', '--daily', '--date', '2015-05-32'], ENV, dir);
  assert.equal(badDate.code, 2);
  assert.match(badDate.stderr, /date "2015-05-32" is not a real day/);
  const badOption = await runCli(['report', '--daily', '--weekly'], ENV, dir);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /Unknown option '--weekly'/);
  const badFormat = await runCli(['report', '--daily', '--format', 'pdf'], ENV, dir);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /--format "pdf" is not a format: use text, html or json/);
}, 120_000);
