/**
 * `ipwatch block` as a user runs it, against a real api (in-process event log, chDB): blocks
 * that sweep need --force, a target with a port is refused, and replacing a block prints
 * what its expiry and reason were and what they become.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startListsApi } from '../../../../test/support/listsApi.ts';
import { runCli, tempDir } from '../../../../test/support/cli.ts';

test('ipwatch block 0.0.0.0/0 and ::/0 are refused without --force, with what to type; --force blocks', async () => {
  const api = await startListsApi();
  const env = { IPWATCH_API_PORT: String(api.port) };
  for (const target of ['0.0.0.0/0', '::/0', '10.20.0.0/16']) {
    const refused = await runCli(['block', target], env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`ipwatch block: refused: ${target.replace(/[./]/g, '\\$&')} .*(loopback|private) addresses.*repeat with --force`));
  }
  assert.deepEqual(api.view.all('blocks'), []);
  const forced = await runCli(['block', '0.0.0.0/0', '--force', '--reason', 'lockdown'], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /^blocked 0\.0\.0\.0\/0 \(never expires; lockdown\)/);

  const dir = tempDir('ipwatch-import');
  const file = join(dir, 'feed.txt');
  writeFileSync(file, '203.0.113.9\n100.0.0.0/8\n');
  const wide = await runCli(['block', '--from-file', file], env);
  assert.equal(wide.code, 2, wide.stderr);
  assert.match(wide.stderr, /ipwatch block: nothing was imported: 1 target\(s\) would sweep: 100\.0\.0\.0\/8 is a \/8, wider than the \/16 .*repeat with --force/);
  const imported = await runCli(['block', '--from-file', file, '--force'], env);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /imported 2 blocks/);
}, 120_000);

test('ipwatch block 1.2.3.4:80 is refused and the block in force is untouched; replacing a block says was and becomes', async () => {
  const api = await startListsApi();
  const env = { IPWATCH_API_PORT: String(api.port) };
  assert.equal((await runCli(['block', '1.2.3.4', '--reason', 'credential stuffing'], env)).code, 0);
  const port = await runCli(['block', '1.2.3.4:80', '--expires', '+1h'], env);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /"1\.2\.3\.4:80" has a port: a block or filter applies to every port of an address, so write the address alone \(1\.2\.3\.4\)/);
  const twoTargets = await runCli(['block', '1.2.3.4', '80'], env);
  assert.equal(twoTargets.code, 2);
  assert.match(twoTargets.stderr, /one target at a time \("1\.2\.3\.4", "80" given\)/);
  assert.equal(api.view.get('blocks', '1.2.3.4')?.expiresAt, null);

  const changed = await runCli(['block', '1.2.3.4', '--expires', '+1h', '--reason', 'scanner'], env);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stdout, /^updated block of 1\.2\.3\.4 \(expires in (59m \d+s|1h 0m); scanner\)\n {2}expiry: was never, becomes \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (59m \d+s|1h 0m)\)\n {2}reason: was "credential stuffing", becomes "scanner"\n$/);
  const again = await runCli(['block', '1.2.3.4', '--expires', '+1h', '--reason', 'scanner', '--reason', 'other'], env);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--reason is given 2 times: give each option once/);
}, 120_000);
