/**
 * `ipwatch detect` over stored history, embedded (chDB in the command's directory): the
 * scanner and the flooder among ordinary visitors are found by the same engine the scorer
 * runs; --dry-run records nothing; a run records each detection once, a second run none.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openAnalytics, migrate } from '@ipwatch/store';
import { runCli, tempDir } from '../../../../test/support/cli.ts';

test('ipwatch detect finds a scanner and a flooder in history, records them once, and --dry-run records nothing', async () => {
  const dir = tempDir('ipwatch-detect');
  const analytics = await openAnalytics({ clickhouse: null, dataDir: join(dir, '.ipwatch') });
  await migrate(analytics);
  const t0 = Date.now() - 3_600_000;
  const rows: unknown[][] = [];
  const row = (ip: string, ts: number, path: string, status: number, ua = 'Mozilla/5.0') => rows.push([`e${rows.length}`, ts, `::ffff:${ip}`, 'GET', path, status, ua, 'test', 0, String(rows.length)]);
  for (let v = 1; v <= 40; v++) for (let p = 0; p < 5; p++) row(`192.0.2.${v}`, t0 + v * 1000 + p * 30_000, `/page/${p}`, 200);
  row('198.51.100.66', t0 + 5000, '/.env', 404);
  row('198.51.100.66', t0 + 6000, '/.git/config', 404);
  for (let i = 0; i < 70; i++) row('198.51.100.67', t0 + 60_000 + i * 100, `/search?q=${i}`, 200);
  await analytics.insertStreamRows({
    table: 'requests',
    columns: ['event_id', 'ts', 'ip', 'method', 'path', 'status', 'user_agent', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows,
    deduplicationToken: `detect-${t0}`,
  });
  await analytics.close();
  const env = { IPWATCH_API_PORT: '1' };

  const dry = await runCli(['detect', '--since', '2h', '--dry-run'], env, dir);
  assert.equal(dry.code, 0, dry.stderr);
  const summary = JSON.parse(dry.stdout.trim().split('\n').pop()!);
  assert.deepEqual(summary, { requests: 272, detections: 2, recorded: 0, byRule: { 'sensitive-files': 1, burst: 1 } });
  assert.match(dry.stdout, /198\.51\.100\.66 +sensitive-files +high +matching requests: 2 in 10m \(more than 1\)/);
  assert.match(dry.stdout, /198\.51\.100\.67 +burst +high +page requests: 51 in 10s \(more than 50\)/);

  const one = await runCli(['detect', '--since', '2h', '--rule', 'sensitive-files'], env, dir);
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual(JSON.parse(one.stdout.trim().split('\n').pop()!).recorded, 1);
  const all = await runCli(['detect', '--since', '2h'], env, dir);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(JSON.parse(all.stdout.trim().split('\n').pop()!).recorded, 1, 'the sensitive-files detection is stored already: only the burst is new');
  assert.match(all.stdout, /1 recorded, 1 stored already/);

  const bad = await runCli(['detect', '--rule', 'no-such-rule'], env, dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /ipwatch detect: no rule "no-such-rule": `ipwatch rules list` shows the ids/);
}, 180_000);
