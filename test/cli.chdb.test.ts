/** The `ipwatch` command as a new user meets it: the embedded main job, the log viewer, and its errors. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { runCli, tempDir } from './support/cli.ts';

test('ipwatch dev --simulate --duration: every emitted event is stored, and the last line says so as JSON', async () => {
  const dir = tempDir('ipwatch-dev');
  const ports = { IPWATCH_API_PORT: '0', IPWATCH_METRICS_PORT: '0' };
  const res = await runCli(['dev', '--simulate', '--duration', '4', '--port', '0', '--rate', '60'], ports, dir);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]!) as { emitted: number; stored: number; dropped: number; health: string; mode: { eventLog: string; analytics: string } };
  assert.ok(summary.emitted >= 50, `emitted ${summary.emitted}`);
  assert.equal(summary.stored, summary.emitted);
  assert.equal(summary.dropped, 0);
  assert.equal(summary.health, 'ok');
  assert.deepEqual(summary.mode, { eventLog: 'memory', analytics: 'chdb' });

  // With nothing running, `logs` reads the same data directory directly.
  const logs = await runCli(['logs', '--limit', '5', '--json'], { IPWATCH_API_PORT: '1' }, dir);
  assert.equal(logs.code, 0, logs.stderr);
  const rows = JSON.parse(logs.stdout) as Array<{ ip: string; path: string; country: string }>;
  assert.equal(rows.length, 5);
  const scanner = await runCli(['logs', '--ip', '176.31.103.52', '--status', '4xx', '--json', '--limit', '100'], { IPWATCH_API_PORT: '1' }, dir);
  const probes = JSON.parse(scanner.stdout) as Array<{ ip: string; status: number; country: string }>;
  assert.ok(probes.length > 0, 'the simulated scanner got 4xx answers');
  assert.ok(probes.every((r) => r.ip === '176.31.103.52' && r.status >= 400 && r.status < 500 && r.country === 'FR'));
}, 180_000);

test('bad input is refused with a message saying what is wrong', async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['logs', '--status', 'teapot'], {}, /--status "teapot" is not a status filter: use 404, 4xx/],
    [['logs', '--ip', '10.0.0.1/8'], {}, /host bits set: did you mean 10.0.0.0\/8/],
    [['logs', '--since', 'yesterday'], {}, /15m, 2h, 7d/],
    [['logs', '--colour'], {}, /Unknown option '--colour'/],
    [['frobnicate'], {}, /unknown command "frobnicate"/],
    [['run', 'everything'], {}, /say which service to run: ipwatch run <enricher\|sink\|scorer\|alerter\|api\|blocksync>/],
    [['run', 'blocksync'], {}, /blocksync mirrors the blocks into Redis for the app instances: set IPWATCH_REDIS_URL/],
    [['block', '10.0.0.5/24'], {}, /has host bits set: did you mean 10\.0\.0\.0\/24\?/],
    [['blocks'], { IPWATCH_API_PORT: '1' }, /does not answer.*start ipwatch \(`npm start`\)/],
    [['logs'], { IPWATCH_KAFKA_BROKERS: 'not a broker' }, /IPWATCH_KAFKA_BROKERS: "not a broker" is not host:port/],
    [['logs'], { IPWATCH_API_PORT: '99999' }, /IPWATCH_API_PORT="99999" is not a whole number from 0 to 65535/],
    [['topics'], {}, /set IPWATCH_KAFKA_BROKERS/],
  ];
  for (const [args, vars, message] of cases) {
    const res = await runCli(args, vars);
    assert.equal(res.code, 2, `ipwatch ${args.join(' ')} exits 2`);
    assert.match(res.stderr, message, `ipwatch ${args.join(' ')}`);
  }
});

test('a refusal from the api is a message and exit 2, not a stack trace', async () => {
  const { createApiApp } = await import('@ipwatch/api');
  const { testAnalytics } = await import('./support/analytics.ts');
  const server = createApiApp({ analytics: await testAnalytics(), token: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = String((server.address() as AddressInfo).port);
  const res = await runCli(['logs'], { IPWATCH_API_PORT: port, IPWATCH_API_TOKEN: '9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e' });
  server.close();
  assert.equal(res.code, 2);
  assert.match(res.stderr, /missing or wrong API token/);
  assert.doesNotMatch(res.stderr, /\bat .*\.ts:\d+/);
});

test('ipwatch replay imports an access log: unreadable lines skipped with a reason, old ones reported as past retention', async () => {
  const dir = tempDir('ipwatch-replay');
  const now = new Date();
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const stamp = (d: Date) => `${String(d.getUTCDate()).padStart(2, '0')}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${String(d.getUTCHours()).padStart(2, '0')}:00:00 +0000`;
  const recent = stamp(new Date(now.getTime() - 3600_000));
  const lines = [
    ...Array.from({ length: 20 }, (_, i) => `8.8.8.${i} - - [${recent}] "GET /page/${i} HTTP/1.1" 200 512 "-" "replay-agent"`),
    'this is not a log line',
    `not-an-ip - - [${recent}] "GET / HTTP/1.1" 200 1 "-" "-"`,
    `9.9.9.9 - - [17/May/2015:10:05:03 +0000] "GET /old HTTP/1.1" 200 1 "-" "-"`,
  ];
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${dir}/access.log`, `${lines.join('\n')}\n`);
  const res = await runCli(['replay', 'access.log', '--app', 'imported'], { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0' }, dir);
  assert.equal(res.code, 0, res.stderr);
  const summary = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, number>;
  assert.deepEqual(summary, { lines: 23, replayed: 21, skipped: 2, expired: 1, stored: 20 });
  assert.match(res.stderr, /line 21: not in the combined log format/);
  assert.match(res.stderr, /older than the retention of 90 days/);
  const logs = await runCli(['logs', '--ip', '8.8.8.0/24', '--limit', '100', '--json'], { IPWATCH_API_PORT: '1' }, dir);
  const rows = JSON.parse(logs.stdout) as Array<{ app: string; country: string; user_agent: string }>;
  assert.equal(rows.length, 20);
  assert.ok(rows.every((r) => r.app === 'imported' && r.country === 'US' && r.user_agent === 'replay-agent'));
}, 180_000);
