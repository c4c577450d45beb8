/**
 * `ipwatch analyze` as a user runs it, against a real api (in-process event log, chDB) over
 * the client-analysis fixture: the report's verdict and sections, within 80 columns, a
 * hostile user agent's escapes kept from the terminal, --json exact, bad input refused.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { blockMessage, LIST_TOPICS } from '@ipwatch/core/decisions';
import { createApiApp } from '@ipwatch/api';
import { openListsView } from '../../../api/src/listsView.ts';
import { createListChanges } from '../../../api/src/listChanges.ts';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { runCli } from '../../../../test/support/cli.ts';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';
import { FIXTURE, fixtureNow, insertClientFixture } from '../../../../shared/store/src/queries/clientAnalysis.fixture.ts';
import type { AnalysisAnswer } from './analyze.ts';

const H = 3_600_000;
const now = fixtureNow();
const minute = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const SHOWN_BADLY = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

/** The api on the fixture's clock, the fixture's client blocked by the rule sensitive-files. */
async function serve(): Promise<Record<string, string>> {
  const analytics = await testAnalytics();
  await insertClientFixture(analytics, now);
  const log = createMemoryEventLog();
  const view = await openListsView(log, () => {});
  await view.ready;
  await log.produce(LIST_TOPICS.blocks, [blockMessage({ target: FIXTURE.ip, reason: 'sensitive-files: /.env', source: 'sensitive-files', severity: 'high', createdAt: now - H, expiresAt: now + 6 * H, createdBy: 'scorer' })]);
  assert.ok(await view.waitFor('blocks', FIXTURE.ip, (r) => r !== undefined, 5000));
  const changes = createListChanges({ log, view, analytics, warn: () => {} });
  const server = createApiApp({ analytics, token: null, now: () => now, lists: { view, changes } }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await log.close();
  });
  return { IPWATCH_API_PORT: String((server.address() as AddressInfo).port) };
}

test('ipwatch analyze: verdict, every section, bars within 80 columns, a hostile user agent shown without its escapes; --json exact', async () => {
  const env = await serve();
  const res = await runCli(['analyze', FIXTURE.ip, '--hours', '3'], env);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.split('\n');
  assert.equal(lines[0], `${FIXTURE.ip}: BLOCKED until ${minute(now + 6 * H)} by rule sensitive-files`);
  for (const l of lines) {
    assert.doesNotMatch(l, SHOWN_BADLY, `no control, escape or invisible character reaches the terminal: ${JSON.stringify(l)}`);
    assert.ok([...l].length <= 80, `within 80 columns: ${JSON.stringify(l)}`);
  }
  const titles = ['Blocked now', 'Traffic', 'Geolocation', 'Requests per hour (UTC; = answered, # errors)', 'Top paths (6)', 'User agents (3)', 'Sensitive paths (rules sensitive-paths, sensitive-files, cms-probe)', 'Logins', 'Rate limits', 'Detections (1)'];
  assert.deepEqual(lines.filter((l) => titles.includes(l) || /^Block history \(\d+\)$/.test(l)).slice(0, -1), titles, `every section, in order:\n${res.stdout}`);
  assert.match(lines.filter((l) => l !== '').find((l) => l.startsWith('Block history')) ?? '', /^Block history \(\d+\)$/, 'the last section');
  const text = res.stdout;
  assert.ok(lines.some((l) => l.includes('evil-agent') && l.includes('\uFFFD')), 'the hostile agent, its escapes marked');
  assert.match(text, /caused by the detection:\n.*sensitive-files high -> block\n +2 > 1 in \d\d:\d\d-\d\d:\d\d UTC\n +ip 198\.51\.100\.23\n +block until/);
  assert.match(text, /paths: \/\.env\n/);
  assert.match(text, /10 requests, 7 errors \(70\.0% 4xx\/5xx\): 2xx 3, 4xx 6, 5xx 1/);
  assert.match(text, /DE, BE, Berlin, AS3320 Deutsche Telekom AG/);
  const bars = lines.filter((l) => /^ {2}\d\d-\d\d \d\d:00 {2}/.test(l));
  assert.equal(bars.length, 3);
  assert.match(bars[1]!, /^ {2}\d\d-\d\d \d\d:00 +0$/, 'the hour without requests is a zero, not left out');
  assert.match(bars[2]!, /^ {2}\d\d-\d\d \d\d:00 {2}#+=+ +6 \(4 err\)$/);
  assert.match(text, /4 requests matched\n +3 {2}sensitive-paths \(2 paths\)\n +3 {2}sensitive-files \(2 paths\)\n +1 {2}cms-probe \(1 path\)\n +2 {2}\/\.env {2}sensitive-paths, sensitive-files\n/);
  assert.match(text, /2 failed, 1 succeeded; 2 usernames in failed attempts\n +1 {2}admin\n +1 {2}root/);
  assert.match(text, /6 requests refused \(3 events\)\n +5 {2}login \(limit 3 per 300s\)/);
  assert.match(text, /unblock 198\.51\.100\.0\/24\n {4}by alice \(manual\)/);

  const json = await runCli(['analyze', FIXTURE.ip, '--hours', '3', '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  const answer = JSON.parse(json.stdout) as AnalysisAnswer;
  assert.equal(answer.userAgents.find((u) => u.requests === 1)?.userAgent, FIXTURE.hostileUserAgent, '--json keeps the text exactly');
  assert.equal(answer.blockedNow?.blocks[0]?.evidence?.id, 'fixture-d-files');
}, 120_000);

test('ipwatch analyze refuses what is not an address and hours out of range, and says when the api does not answer', async () => {
  // The rest of the checks of the address and the hours: analyze.test.ts.
  const cases: Array<[string[], number, RegExp]> = [
    [['analyze', 'example.com'], 2, /ipwatch analyze: "example\.com" is not an IP address: analyse one address/],
    [['analyze', FIXTURE.ip, '--hours', '721'], 2, /--hours "721" must be a whole number from 1 to 720/],
    [['analyze', FIXTURE.ip], 2, /the api at http:\/\/127\.0\.0\.1:1 does not answer.*The analysis is made by the api: start ipwatch/],
  ];
  for (const [args, code, message] of cases) {
    const res = await runCli(args, { IPWATCH_API_PORT: '1' });
    assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message, args.join(' '));
    assert.equal(res.stdout, '');
  }
}, 120_000);
