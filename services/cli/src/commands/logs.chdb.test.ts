/**
 * `ipwatch logs` against a real api on chDB, with a stored request whose text holds
 * invisible and bidi characters: the table marks every one, --json gives them back exactly.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApiApp } from '@ipwatch/api';
import { testAnalytics } from '../../../../test/support/analytics.ts';
import { runCli } from '../../../../test/support/cli.ts';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';

// LRM, RLM, ALM, BOM, line separator, combining grapheme joiner, RLO, zero-width space, a tag, soft hyphen, ESC.
const HIDDEN = ['\u200E', '\u200F', '\u061C', '\uFEFF', '\u2028', '\u034F', '\u202E', '\u200B', '\u{E0041}', '\u00AD', '\u001b'];
const PATH = `/admin${HIDDEN.join('x')}/gpj.exe`;
const CITY = `Par\u200Dis\u2029`;
const SHOWN_BADLY = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

test('ipwatch logs: the table marks every invisible and bidi character; --json keeps the stored text exactly', async () => {
  const analytics = await testAnalytics();
  const ts = Date.now() - 60_000;
  await analytics.insertStreamRows({
    table: 'requests',
    columns: ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'country', 'city', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [['invisible-1', ts, '::ffff:198.51.100.77', 'shop', 'GET', 'shop.example', PATH, 404, 1.5, 'FR', CITY, 'test', 0, '1']],
    deduplicationToken: `invisible-text-${ts}`,
  });
  const server = createApiApp({ analytics, token: null }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const env = { IPWATCH_API_PORT: String((server.address() as AddressInfo).port) };

  const table = await runCli(['logs', '--ip', '198.51.100.77'], env);
  assert.equal(table.code, 0, table.stderr);
  const line = table.stdout.split('\n').find((l) => l.includes('198.51.100.77'));
  assert.ok(line, table.stdout);
  for (const l of table.stdout.split('\n')) assert.doesNotMatch(l, SHOWN_BADLY, 'no invisible, bidi or control character reaches the terminal');
  assert.ok(line.includes(`/admin${HIDDEN.map(() => '\uFFFD').join('x')}/gpj.exe`), `each one shown as U+FFFD: ${JSON.stringify(line)}`);
  assert.ok(line.includes('FR Par\uFFFDis\uFFFD'), JSON.stringify(line));

  const json = await runCli(['logs', '--ip', '198.51.100.77', '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as Array<{ path: string; city: string }>;
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.path, PATH);
  assert.equal(rows[0]!.city, CITY);
}, 120_000);

test('ipwatch logs refuses an option given twice, an empty one and a date the calendar lacks, rather than widening the filter', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['logs', '--ip', '203.0.113.7', '--ip', '198.51.100.7'], /ipwatch logs: --ip is given 2 times: give each option once/],
    [['logs', '--ip', ''], /ipwatch logs: --ip is empty: give it a value, or leave --ip out/],
    [['logs', '--since', '2026-02-30'], /ipwatch logs: --since "2026-02-30" is not a real date \(2026-02-30 is not a day of that month\)/],
    [['logs', '--ip', '203.0.113.7:443'], /ipwatch logs: --ip: "203\.0\.113\.7:443" has a port/],
  ];
  for (const [args, message] of cases) {
    const res = await runCli(args, { IPWATCH_API_PORT: '1' });
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message, args.join(' '));
  }
}, 120_000);
