/**
 * `ipwatch replay` as a user runs it, embedded (in-process event log, chDB): an nginx JSON log
 * detected and followed through a rotation until SIGINT, then the summary and the stored rows.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startCli, tempDir } from '../../../../test/support/cli.ts';

const env = { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0' };

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('replay --follow: nginx-json detected, appended lines and a rotated file replayed until SIGINT, then the summary', async () => {
  const dir = tempDir('ipwatch-replay-follow');
  const log = join(dir, 'access.log');
  const line = (i: number, extra: Record<string, unknown> = {}) =>
    `${JSON.stringify({ remote_addr: `8.8.4.${i}`, msec: (Date.now() / 1000).toFixed(3), request: `GET /f/${i} HTTP/1.1`, status: '200', body_bytes_sent: '10', request_time: '0.004', http_user_agent: 'follow-agent', http_host: 'Follow.Example', ...extra })}\n`;
  writeFileSync(log, line(1) + line(2) + '{"remote_addr": 7}\n');
  const cli = startCli(['replay', 'access.log', '--follow', '--app', 'followed'], env, dir);
  const exited = new Promise<number | null>((resolve) => cli.on('exit', resolve));
  try {
    await until(() => cli.output().stderr.includes('format: nginx-json (detected'), 'the format on stderr');
    appendFileSync(log, line(3));
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, line(4));
    writeFileSync(log, line(5));
    await until(() => cli.output().stderr.includes('access.log was rotated'), 'the rotation');
    appendFileSync(log, line(6, { request: undefined, request_method: 'POST', request_uri: '/login' }));
  } finally {
    cli.kill('SIGINT');
  }
  assert.equal(await exited, 0, cli.output().stderr);
  const { stdout, stderr } = cli.output();
  assert.match(stderr, /skipped line 3: remote_addr is a number, not a string/);
  assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()!), { lines: 7, replayed: 6, skipped: 1, expired: 0, stored: 6 });
  const logs = await runCli(['logs', '--ip', '8.8.4.0/24', '--limit', '100', '--json'], { IPWATCH_API_PORT: '1' }, dir);
  const rows = JSON.parse(logs.stdout) as Array<{ path: string; method: string; host: string; app: string; latency_ms: number }>;
  assert.deepEqual(rows.map((r) => r.path).sort(), ['/f/1', '/f/2', '/f/3', '/f/4', '/f/5', '/login']);
  assert.ok(rows.every((r) => r.app === 'followed' && r.host === 'follow.example' && r.latency_ms === 4));
  assert.equal(rows.find((r) => r.path === '/login')?.method, 'POST');
}, 120_000);
