/** `ipwatch migrate` as an operator runs it after changing a retention: each TTL change printed, none when nothing changed. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { runCli, tempDir } from './support/cli.ts';

test('ipwatch migrate sets the tables\' TTLs from the retention variables and prints each change, once', async () => {
  const dataDir = tempDir('ipwatch-retention');
  const first = await runCli(['migrate'], { IPWATCH_DATA_DIR: dataDir, IPWATCH_RETENTION_DAYS: '30' });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^retention of requests set to 30 days \(was 90\)$/m);
  assert.match(first.stdout, /^retention of detections set to 365 days \(had none\)$/m);
  assert.match(first.stdout, /^retention of privacy_audit set to 1095 days \(had none\)$/m);

  const dry = await runCli(['migrate', '--dry-run'], { IPWATCH_DATA_DIR: dataDir, IPWATCH_RETENTION_DAYS: '30', IPWATCH_RETENTION_DETECTIONS_DAYS: '100' });
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(dry.stdout.match(/^retention .*$/gm), ['retention of detections would be set to 100 days (was 365)']);

  const again = await runCli(['migrate'], { IPWATCH_DATA_DIR: dataDir, IPWATCH_RETENTION_DAYS: '30' });
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /retention of/, 'the dry run changed nothing, and the same settings again change nothing');
}, 120_000);
