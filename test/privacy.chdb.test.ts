/**
 * A data subject's request end to end, through the CLI and the api as an operator runs them:
 * ../shared/data/apache-combined-2015.log replayed (`ipwatch replay`), an api over that store
 * with the block list and the privacy service (in this process, on a free port, with a token),
 * and `ipwatch privacy` in a child process talking to it. The export holds every row ClickHouse
 * holds about the address (JSON and CSV); the erasure leaves no table, rollup or api answer
 * holding it, other clients untouched, the block in force named with its unblock command;
 * the audit log records the acts without the address; a crashed erasure is listed as pending
 * and finished by running it again; an unknown address is nothing found; a /8 is refused
 * without --force; the api refuses privacy calls without the token.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import { InjectedCrash, openAnalytics, type Analytics, type AuditEntry, type PrivacyExport } from '@ipwatch/store';
import { createApiApp } from '../services/api/src/apiServer.ts';
import { openListsView, type ListsView } from '../services/api/src/listsView.ts';
import { createListChanges } from '../services/api/src/listChanges.ts';
import { createPrivacyService, type PrivacyService } from '../services/api/src/privacy/service.ts';
import { runCli, tempDir, type CliResult } from './support/cli.ts';
import { countOf, storeDefence, whereIs as storedAbout } from './support/privacyRows.ts';

const LOG = fileURLToPath(new URL('../../shared/data/apache-combined-2015.log', import.meta.url));
// The log is of May 2015: every table keeps it (5000 days stays inside DateTime's range for the TTL).
const KEEP = '5000';
const REPLAY_ENV = {
  IPWATCH_API_PORT: '1',
  IPWATCH_METRICS_PORT: '0',
  IPWATCH_RETENTION_DAYS: KEEP,
  IPWATCH_RETENTION_RATE_LIMIT_DAYS: KEEP,
  IPWATCH_RETENTION_DETECTIONS_DAYS: KEEP,
  IPWATCH_RETENTION_BLOCK_EVENTS_DAYS: KEEP,
  IPWATCH_RETENTION_ROLLUP_DAYS: KEEP,
};
/** A named token as `openssl rand -hex 32` makes one: its name is the actor the audit log records. */
const TOKEN = 'dpo:7d1f0e9c2b4a6d8f0e1c3b5a7d9f1e3c5b7a9d1f3e5c7b9a1d3f5e7c9b1a3d5f';
/** 364 requests in the log, over several hours and days. */
const IP = '46.105.14.53';
/** Another client (273 requests): its rows must be untouched. */
const OTHER = '75.97.9.59';
/** A client whose erasure is stopped half-way by an injected crash (357 requests). */
const CRASHED = '130.237.218.86';
/** The api's clock: just after the log, so a 720-hour analysis covers it. */
const API_NOW = Date.parse('2015-05-21T00:00:00Z');

let dir: string;
let a: Analytics;
let log: EventLog;
let view: ListsView;
let privacy: PrivacyService;
let server: Server;
let env: Record<string, string>;
let base: string;

const count = (query: string, params: Record<string, unknown> = {}) => countOf(a, query, params);
const whereIs = (ip: string) => storedAbout(a, ip);
/** A detection (flagged) and a rate-limit refusal of the client, as the scorer and an emitter would have stored them. */
const defenceRows = (ip: string, ts: string) => storeDefence(a, ip, ts);

const privacyCli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(['privacy', ...args], { ...env, ...extra }, dir);

async function api<T>(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as T };
}

/** RFC 4180 CSV, quoted fields with commas, quotes and line breaks included. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') cell += c;
      else if (text[i + 1] === '"') (cell += '"'), i++;
      else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n') row.push(cell), out.push(row), (row = []), (cell = '');
    else cell += c;
  }
  return out;
}

beforeAll(async () => {
  dir = tempDir('ipwatch-privacy');
  copyFileSync(LOG, join(dir, 'access.log'));
  const replay = await runCli(['replay', 'access.log', '--app', 'shop'], REPLAY_ENV, dir);
  assert.equal(replay.code, 0, replay.stderr);
  a = await openAnalytics({ clickhouse: null, dataDir: join(dir, '.ipwatch') });
  for (const ip of [IP, OTHER]) await defenceRows(ip, '2015-05-18 10:00:00.000');

  // The api as `ipwatch run api` makes it, on this store: the lists on an in-process log, the privacy service, a token.
  log = createMemoryEventLog();
  const warn = () => {};
  view = await openListsView(log, warn);
  await view.ready;
  privacy = createPrivacyService({ analytics: a, config: loadConfig({}), view });
  const app = createApiApp({ analytics: a, token: TOKEN, now: () => API_NOW, lists: { view, changes: createListChanges({ log, view, analytics: a, warn }) }, privacy });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  env = { IPWATCH_API_HOST: '127.0.0.1', IPWATCH_API_PORT: String(port), IPWATCH_API_TOKEN: TOKEN, IPWATCH_METRICS_PORT: '0' };
}, 240_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await view?.stop();
  await log?.close();
  await privacy?.close();
  await a?.close();
});

test('export, erase, audit: every row of an address exported, then erased everywhere, other clients untouched, the block in force named, the acts audited without the address', async () => {
  // A client blocked by the operator: the block is history in ClickHouse and in force in the list.
  const blocked = await runCli(['block', IP, '--reason', 'scanner', '--expires', '+7d'], env, dir);
  assert.equal(blocked.code, 0, blocked.stderr);
  // A range holding it, blocked for everyone in it: that history is not this person's.
  const range = await runCli(['block', '46.105.0.0/16', '--reason', 'hosting range', '--expires', '+1d'], env, dir);
  assert.equal(range.code, 0, range.stderr);
  const rangeHistory = () => count('SELECT count() AS n FROM block_events WHERE target = {t:String}', { t: '46.105.0.0/16' });
  assert.equal(await rangeHistory(), 1);
  const before = await whereIs(IP);
  assert.deepEqual([before.requests, before.rate_limit_events, before.detections, before.block_events], [364, 1, 1, 1], 'the replayed requests, the defence rows and the block');
  // The five-minute sketches keep 8 days: none of 2015 is left; the hourly ones keep it.
  assert.ok(before.hourly > 0, 'the hourly rollup\'s sketches name it');
  const other = await whereIs(OTHER);
  const otherApi = (await api<{ total: number }>('GET', `/api/v1/requests?ip=${OTHER}`)).body.total;
  assert.equal(otherApi, 273);

  // The export, JSON to a file: every table's rows as ClickHouse counts them, each field with its meaning.
  const json = await privacyCli(['export', IP, '--out', 'export.json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stdout, '', 'the export went to the file');
  assert.equal(statSync(join(dir, 'export.json')).mode & 0o777, 0o600, 'readable by its owner only');
  const e = JSON.parse(readFileSync(join(dir, 'export.json'), 'utf8')) as PrivacyExport;
  const perTable = Object.fromEntries(e.tables.map((t) => [t.table, t.rows.length]));
  assert.deepEqual(perTable, { requests: before.requests, rate_limit_events: before.rate_limit_events, detections: before.detections, block_events: before.block_events });
  assert.ok(e.tables.every((t) => t.rows.every((r) => Object.keys(r).every((k) => typeof t.fields[k] === 'string'))), 'every field has a meaning');
  assert.ok(e.tables.find((t) => t.table === 'requests')!.rows.every((r) => r.ip === IP));
  assert.match(json.stderr, /export of 46\.105\.14\.53: 367 row\(s\) in ClickHouse/);
  assert.match(json.stderr, /requests\s+364\n/);
  assert.match(json.stderr, new RegExp(`audit id ${e.auditId}: file it with the request`));

  // The same as CSV on stdout: one line per field of a row, as many request rows.
  const csv = await privacyCli(['export', IP, '--format', 'csv']);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = parseCsv(csv.stdout);
  assert.deepEqual(lines[0], ['table', 'row', 'field', 'value', 'meaning']);
  assert.ok(lines.every((l) => l.length === 5), 'five cells on every line');
  const requestRows = new Set(lines.filter((l) => l[0] === 'requests').map((l) => l[1]));
  assert.equal(requestRows.size, before.requests);
  assert.ok(lines.filter((l) => l[0] === 'requests' && l[2] === 'ip').every((l) => l[3] === IP && l[4]!.startsWith('the client address')));

  // The api answers about it before the erasure (the analysis over the 720 hours before the api's clock).
  const analysisBefore = (await api<{ traffic: { requests: number } }>('GET', `/api/v1/clients/${IP}/analysis?hours=720`)).body;
  assert.equal(analysisBefore.traffic.requests, 364);

  // Without a terminal, the erasure wants --yes, and nothing is erased.
  const unconfirmed = await privacyCli(['erase', IP]);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /cannot be undone.*give --yes: ipwatch privacy erase 46\.105\.14\.53 --yes/);
  assert.equal((await whereIs(IP)).requests, 364);

  // The erasure.
  const erased = await privacyCli(['erase', IP, '--yes']);
  assert.equal(erased.code, 0, erased.stderr);
  const report = erased.stdout;
  assert.match(report, /^erased 46\.105\.14\.53\n/);
  assert.match(report, /Rows removed:\n\s+requests\s+364\n\s+rate_limit_events\s+1\n\s+detections\s+1\n\s+block_events\s+1\n/);
  assert.match(report, /Rollup buckets rebuilt without it: [1-9]\d* one-minute, \d+ five-minute, [1-9]\d* one-hour\n/);
  assert.match(report, /What ipwatch cannot remove now:/);
  assert.match(report, /the in-process event log .*\n\s+until \d{4}-\d\d-\d\d \d\d:\d\d /);
  assert.match(report, /the block list: the block of 46\.105\.14\.53 \(scanner\), in force\n\s+until \d{4}-\d\d-\d\d \d\d:\d\d .*\n\s+kept under your legitimate interest .*lift it with `ipwatch unblock 46\.105\.14\.53`/);
  const auditId = /audit id ([0-9a-f-]{36}): file it with the request/.exec(report)?.[1];
  assert.ok(auditId, report);
  assert.match(report, /If this erasure was interrupted \(a crash, a timeout\), run it again: ipwatch privacy erase 46\.105\.14\.53 --yes finishes it\./);

  // Nothing of it anywhere: no table, no rollup sketch, no api answer, no export.
  assert.deepEqual(await whereIs(IP), { requests: 0, rate_limit_events: 0, detections: 0, block_events: 0, hourly: 0, fiveMinutes: 0 });
  assert.equal((await api<{ total: number }>('GET', `/api/v1/requests?ip=${IP}`)).body.total, 0);
  const analysisAfter = (await api<{ traffic: { requests: number }; detections: { total: number }; blockHistory: { rows: Array<{ target: string }> }; topPaths: unknown[] }>('GET', `/api/v1/clients/${IP}/analysis?hours=720`)).body;
  assert.equal(analysisAfter.traffic.requests, 0);
  assert.equal(analysisAfter.detections.total, 0);
  assert.deepEqual(analysisAfter.blockHistory.rows.map((r) => r.target), ['46.105.0.0/16'], 'only the range\'s history, which is not its own');
  const exportAfter = await privacyCli(['export', IP]);
  assert.equal(exportAfter.code, 0, exportAfter.stderr);
  assert.equal((JSON.parse(exportAfter.stdout) as PrivacyExport).total, 0);
  assert.match(exportAfter.stderr, /nothing stored about 46\.105\.14\.53/);
  // The block itself stays in force until the operator lifts it.
  assert.ok(view.all('blocks').some((b) => b.target === IP));

  assert.equal(await rangeHistory(), 1, 'the range\'s block history stays');
  assert.match(report, /the block list: the block of 46\.105\.0\.0\/16 \(hosting range\), in force\n.*\n.*`ipwatch unblock 46\.105\.0\.0\/16`/, 'the range\'s block is in force for it');
  // Another client: as it was.
  assert.deepEqual(await whereIs(OTHER), other);
  assert.equal((await api<{ total: number }>('GET', `/api/v1/requests?ip=${OTHER}`)).body.total, otherApi);

  // Erasing again: nothing stored (exit 0), the block still named.
  const again = await privacyCli(['erase', IP, '--yes']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^nothing stored about 46\.105\.14\.53 \(/);
  assert.match(again.stdout, /`ipwatch unblock 46\.105\.14\.53`/);

  // The audit log: the exports and erasures, who made them, no address anywhere.
  const table = await privacyCli(['audit']);
  assert.equal(table.code, 0, table.stderr);
  const [header, ...entries] = table.stdout.trim().split('\n');
  assert.match(header!, /^WHEN\s+WHO\s+ACTION\s+SUBJECT\s+BITS\s+OUTCOME\s+ROWS\s+AUDIT ID$/);
  assert.ok(entries.some((l) => new RegExp(`erase\\s+ip\\s+/32\\s+completed\\s+\\d+\\s+${auditId}$`).test(l)), table.stdout);
  assert.ok(entries.some((l) => new RegExp(`dpo\\s+export\\s+ip\\s+/32\\s+completed\\s+367\\s+${e.auditId}$`).test(l)), table.stdout);
  assert.ok(entries.some((l) => /erase\s+ip\s+\/32\s+nothing_found/.test(l)));
  const listed = await privacyCli(['audit', '--json', '--action', 'erase', '--limit', '10']);
  assert.equal(listed.code, 0, listed.stderr);
  const audit = JSON.parse(listed.stdout) as AuditEntry[];
  assert.ok(audit.every((x) => x.action === 'erase' && x.actor === 'dpo'));
  assert.deepEqual(audit.filter((x) => x.id === auditId).map((x) => x.outcome).sort(), ['completed', 'started']);
  assert.equal(audit.find((x) => x.id === auditId && x.outcome === 'started')!.rows.requests, 364);
  for (const text of [table.stdout, listed.stdout]) assert.ok(!text.includes(IP) && !text.includes('46.105'), 'the audit log holds no address');
}, 300_000);

test('a crashed erasure is listed as pending and finished by running it again', async () => {
  await expect(privacy.erase({ ip: CRASHED }, 'ops', { crashAfter: 'delete:requests' })).rejects.toBeInstanceOf(InjectedCrash);
  assert.equal((await whereIs(CRASHED)).requests, 0, 'the requests went before the crash');
  assert.ok((await whereIs(CRASHED)).hourly > 0, 'the rollups still name it');

  const pending = await privacyCli(['pending']);
  assert.equal(pending.code, 0, pending.stderr);
  assert.match(pending.stdout, /by ops {2}audit id [0-9a-f-]{36}\n\s+ipwatch privacy erase 130\.237\.218\.86 --yes\n/);

  const rerun = await privacyCli(['erase', CRASHED, '--yes']);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, /^erased 130\.237\.218\.86 \(this run finished an erasure that had stopped half-way\)\n/);
  assert.deepEqual(await whereIs(CRASHED), { requests: 0, rate_limit_events: 0, detections: 0, block_events: 0, hourly: 0, fiveMinutes: 0 });
  assert.equal((await privacyCli(['pending'])).stdout, 'no erasure under way or stopped half-way\n');
}, 120_000);

test('bad input: an unknown address is nothing found, a /8 wants --force, whom it is about must be said once, the api wants its token', async () => {
  const unknown = await privacyCli(['erase', '192.0.2.77', '--yes']);
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.match(unknown.stdout, /^nothing stored about 192\.0\.2\.77 \(an app that truncates addresses stores its network instead: ask for 192\.0\.2\.0\/24, .*\)\n/);
  assert.doesNotMatch(unknown.stdout, /What ipwatch cannot remove/);
  const unknownUser = await privacyCli(['export', '--user', 'nobody@example.com']);
  assert.equal(unknownUser.code, 0, unknownUser.stderr);
  assert.match(unknownUser.stderr, /nothing stored about user "nobody@example\.com"/);

  const wide = await privacyCli(['erase', '46.0.0.0/8', '--yes']);
  assert.equal(wide.code, 2);
  assert.match(wide.stderr, /46\.0\.0\.0\/8 is a \/8, wider than the \/24 a privacy request covers without force \(IPWATCH_ERASE_MAX_PREFIX_V4\).*repeat with --force/);
  assert.equal((await whereIs(OTHER)).requests, 273, 'nothing erased');
  const forced = await privacyCli(['erase', '10.0.0.0/8', '--force', '--yes']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /^nothing stored about 10\.0\.0\.0\/8\n/);

  for (const [args, message] of [
    [['erase', '--yes'], /say whom it is about/],
    [['erase', IP, '--user', 'alice', '--yes'], /an address or --user, not both/],
    [['export', IP, OTHER], /one address or range at a time/],
    [['export', IP, '--format', 'xml'], /--format "xml" must be json or csv/],
    [['erase', '203.0.113.7:80', '--yes'], /port/],
    [['audit', '--limit', '0'], /--limit "0" must be a whole number/],
    [['forget', IP], /unknown subcommand "forget": export, erase, audit, pending/],
  ] as const) {
    const r = await privacyCli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }

  // The api's token: without it, or with another, every privacy endpoint is refused.
  for (const [method, path, body] of [['POST', '/api/v1/privacy/export', { ip: OTHER }], ['POST', '/api/v1/privacy/erase', { ip: OTHER }], ['GET', '/api/v1/privacy/audit'], ['GET', '/api/v1/privacy/pending']] as const) {
    const answer = await api<{ code: string }>(method, path, body, null);
    assert.equal(answer.status, 401, `${method} ${path}`);
    assert.equal(answer.body.code, 'IPWATCH_BAD_TOKEN');
  }
  const wrongToken = await privacyCli(['erase', OTHER, '--yes'], { IPWATCH_API_TOKEN: '0123456789abcdef'.repeat(4) });
  assert.equal(wrongToken.code, 2);
  assert.match(wrongToken.stderr, /ipwatch privacy: .*token/i);
  assert.doesNotMatch(wrongToken.stderr, /too weak/);
  assert.equal((await whereIs(OTHER)).requests, 273, 'nothing erased without the token');
}, 180_000);
