/**
 * `ipwatch rules` as a user runs it, against a real api (in-process event log, chDB): list,
 * show, set with was -> now, a custom rule from a patterns file, the shorthands and reset, and
 * the refusals (a bad value, a typo, a wrong token) with what to type.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRule } from '@ipwatch/core/rules';
import { startRulesApi } from '../../../../test/support/rulesApi.ts';
import { runCli, tempDir } from '../../../../test/support/cli.ts';

const TOKEN = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';

test('ipwatch rules list, show and set: a table, every field with the parameters\' docs, and each change as was -> now, made as the token\'s caller', async () => {
  const api = await startRulesApi({ token: TOKEN });
  const env = { IPWATCH_API_PORT: String(api.port), IPWATCH_API_TOKEN: TOKEN };

  const list = await runCli(['rules', 'list'], env);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^ID +KIND +WINDOW +THRESHOLD +SEVERITY +MODE +ACTION +ENABLED +ORIGIN$/);
  assert.ok(lines.some((l) => /^burst +request_rate +10s +50 +high +live +block 10m, then 1h, then 1d +yes +default$/.test(l)), list.stdout);
  assert.match(list.stderr, /^13 rules \(0 changed, 0 custom, 0 disabled\)/);

  const show = await runCli(['rules', 'show', 'error-ratio'], env);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^rule error-ratio \(default, as shipped\)\n {2}More than half of a client's requests/);
  assert.match(show.stdout, /\n {2}threshold: +0\.5 \(fires when the count is more than this within the window\)\n/);
  assert.match(show.stdout, /\n {2}minRequests = 20\n {6}-- requests in the window before the ratio is judged\n/);
  assert.match(show.stdout, /\n {2}ignorePaths \(not set\)\n {6}-- path prefixes not counted/);

  const set = await runCli(['rules', 'set', 'burst', '--threshold', '80', '--window', '30s', '--param', 'ignorePaths=/health', '--escalation', 'none', '--block-for', '2h'], env);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(
    set.stdout,
    ['updated rule burst (applied):', '  window: 10s -> 30s', '  threshold: 50 -> 80', '  block for: never (no end) -> 2h', '  escalation: 10m, 1h, 1d -> none', '  param ignorePaths: (not set) -> "/health"', ''].join('\n'),
  );
  const burst = api.rules.book.get('burst');
  assert.deepEqual([burst?.threshold, burst?.windowMs, burst?.blockForMs, burst?.escalation.length, burst?.updatedBy], [80, 30_000, 7_200_000, 0, 'admin']);
  const shown = await runCli(['rules', 'show', 'burst'], env);
  assert.match(shown.stdout, /^rule burst \(default, changed: `ipwatch rules reset burst` restores it\)/);
  assert.match(shown.stdout, /\n {2}updated: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by admin\n/);

  // Refused by the api, naming what is wrong; nothing changed.
  const invalid = await runCli(['rules', 'set', 'burst', '--window', '30d'], env);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /^ipwatch rules: rule "burst": the window must be from 1s to 7d \(got 2592000000 ms\)/);
  const param = await runCli(['rules', 'set', 'burst', '--param', 'colour=red'], env);
  assert.equal(param.code, 2);
  assert.match(param.stderr, /a rule of kind request_rate takes no parameter "colour" \(it takes count, exemptCrawlers, ignorePaths\)/);
  const typo = await runCli(['rules', 'set', 'burst', '--treshold', '3'], env);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^ipwatch rules: unknown option --treshold \(did you mean --threshold\?\)\n\nipwatch rules list/);
  const missing = await runCli(['rules', 'show', 'burts'], env);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no rule has the id "burts" \(did you mean burst\?\)/);
  assert.equal(api.rules.book.get('burst')?.threshold, 80);

  const wrong = await runCli(['rules', 'disable', 'burst'], { ...env, IPWATCH_API_TOKEN: [...TOKEN].reverse().join('') });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /missing or wrong API token/);
  assert.equal(api.rules.book.get('burst')?.enabled, true);
}, 180_000);

test('ipwatch rules: a custom rule from a patterns file, the shorthands and reset each say in a line what happened', async () => {
  const api = await startRulesApi();
  const env = { IPWATCH_API_PORT: String(api.port) };
  const file = join(tempDir('ipwatch-rules'), 'patterns.txt');
  writeFileSync(file, '^/manage\n\n^/internal/\n');
  const created = await runCli(['rules', 'set', 'admin-probe', '--kind', 'path_match', '--window', '10m', '--threshold', '3', '--param', 'field=path', '--param', `patterns=@${file}`, '--action', 'block', '--block-for', '1h', '--severity', 'high'], env);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, 'created rule admin-probe (applied): path_match, more than 3 in 10m, high, block 1h\n');
  assert.equal(api.rules.book.get('admin-probe')?.params.patterns, '^/manage\n^/internal/');
  assert.equal(api.rules.book.get('admin-probe')?.updatedBy, 'local');

  const step = async (args: string[], expected: RegExp) => {
    const r = await runCli(['rules', ...args], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, expected);
  };
  await step(['disable', 'admin-probe'], /^rule admin-probe disabled \(it detects nothing until `ipwatch rules enable admin-probe`\)\n$/);
  assert.equal(api.rules.book.get('admin-probe')?.enabled, false);
  await step(['disable', 'admin-probe'], /^rule admin-probe is disabled already\n$/);
  await step(['dry-run', 'admin-probe'], /^rule admin-probe now runs dry: it records what it detects and acts on nobody \(live it would block 1h\); note: it is disabled/);
  await step(['enable', 'admin-probe'], /^rule admin-probe enabled\n$/);
  await step(['live', 'admin-probe'], /^rule admin-probe is live: block 1h\n$/);
  assert.deepEqual([api.rules.book.get('admin-probe')?.enabled, api.rules.book.get('admin-probe')?.mode], [true, 'live']);

  await step(['set', 'scanner-user-agent', '--severity', 'medium', '--quiet', '1h'], /^updated rule scanner-user-agent \(applied\):\n {2}severity: high -> medium\n {2}quiet: 0 \(the window\) -> 1h\n$/);
  await step(['reset', 'scanner-user-agent'], /^reset rule scanner-user-agent to its default \(severity, quiet as shipped again\)\n$/);
  assert.deepEqual({ ...api.rules.book.get('scanner-user-agent') }, { ...defaultRule('scanner-user-agent') });
  await step(['reset', 'scanner-user-agent'], /^rule scanner-user-agent is as shipped already: nothing to reset\n$/);
  await step(['reset', 'admin-probe'], /^deleted custom rule admin-probe\n$/);
  assert.equal(api.rules.book.get('admin-probe'), undefined);

  const json = await runCli(['rules', 'list', '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as unknown[]).length, 13);
}, 180_000);
