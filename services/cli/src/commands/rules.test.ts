import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { describeRuleChanges, durationOf, paramOf, run, setBody } from './rules.ts';

const usage = (message: RegExp) => (e: Error & { code?: string }) => e.code === 'IPWATCH_USAGE' && message.test(e.message);

test('durations are read as --expires reads them, the + optional', () => {
  assert.equal(durationOf('--window', '10m'), 600_000);
  assert.equal(durationOf('--window', '+90s'), 90_000);
  assert.equal(durationOf('--block-for', '2w'), 14 * 86_400_000);
  for (const bad of ['10', '10x', '0m', '-5m', 'never', '2026-12-01T00:00:00Z']) assert.throws(() => durationOf('--window', bad), usage(/--window ".*" is not a duration: write 90s, 30m, 12h, 7d or 2w/), bad);
});

test('set: only the options given become fields, each of its type', () => {
  assert.deepEqual(setBody({ threshold: '80', window: '30s' }), { threshold: 80, windowMs: 30_000 });
  assert.deepEqual(
    setBody({ kind: 'path_match', severity: 'high', action: 'block', 'block-for': 'never', escalation: '1h, 4h,24h,7d', 'escalation-memory': '0', quiet: '10m', description: 'd', enable: true, mode: 'dry-run' }),
    { kind: 'path_match', severity: 'high', autoBlock: true, blockForMs: null, escalation: [3_600_000, 14_400_000, 86_400_000, 604_800_000], escalationMemoryMs: 0, quietMs: 600_000, description: 'd', enabled: true, mode: 'dry_run' },
  );
  assert.deepEqual(setBody({ action: 'flag', escalation: 'none', quiet: '0', disable: true, threshold: '0.25' }), { autoBlock: false, escalation: [], quietMs: 0, enabled: false, threshold: 0.25 });
  assert.deepEqual(setBody({ param: ['count=all', 'ignorePaths=/health,/poll'], 'unset-param': ['exemptCrawlers'] }), { params: { count: 'all', ignorePaths: '/health,/poll', exemptCrawlers: null } });

  assert.throws(() => setBody({}), usage(/nothing to change/));
  assert.throws(() => setBody({ threshold: 'lots' }), usage(/--threshold "lots" must be a number/));
  assert.throws(() => setBody({ threshold: '-1' }), usage(/--threshold/));
  assert.throws(() => setBody({ action: 'ban' }), usage(/--action "ban" must be flag .* or block/));
  assert.throws(() => setBody({ mode: 'dry' }), usage(/--mode "dry" must be live or dry_run/));
  assert.throws(() => setBody({ enable: true, disable: true }), usage(/--enable or --disable, not both/));
  assert.throws(() => setBody({ escalation: '1h,,4h' }), usage(/--escalation "" is not a duration/));
  assert.throws(() => setBody({ param: ['count'] }), usage(/--param "count" must be NAME=VALUE/));
  assert.throws(() => setBody({ param: ['=x'] }), usage(/must be NAME=VALUE/));
  assert.throws(() => setBody({ param: ['count=all', 'count=pages'] }), usage(/--param count is given twice/));
  assert.throws(() => setBody({ param: ['count=all'], 'unset-param': ['count'] }), usage(/--param count and --unset-param count: give one of them/));
});

test('--param NAME=@FILE reads the file\'s non-blank lines, one regular expression a line', () => {
  const files: Record<string, string> = { 'p.txt': '^/secret\r\n\n  ^/private  \n\n', 'empty.txt': '\n \n' };
  const read = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
    return text;
  };
  assert.deepEqual(paramOf('patterns=@p.txt', read), ['patterns', '^/secret\n  ^/private']);
  assert.deepEqual(paramOf('field=a=b', read), ['field', 'a=b'], 'the first = splits');
  assert.throws(() => paramOf('patterns=@missing.txt', read), usage(/--param patterns: cannot read missing\.txt: ENOENT/));
  assert.throws(() => paramOf('patterns=@empty.txt', read), usage(/empty\.txt is empty/));
});

test('what a change did, field by field: was -> now, durations in units, a list of patterns as lines added and removed', () => {
  assert.deepEqual(
    describeRuleChanges([
      { field: 'windowMs', was: 10_000, becomes: 60_000 },
      { field: 'threshold', was: 50, becomes: 80 },
      { field: 'autoBlock', was: false, becomes: true },
      { field: 'blockForMs', was: null, becomes: 3_600_000 },
      { field: 'escalation', was: [600_000, 3_600_000], becomes: [] },
      { field: 'quietMs', was: 0, becomes: 300_000 },
      { field: 'enabled', was: true, becomes: false },
      { field: 'description', was: '', becomes: 'evil\u202etxt' },
      { field: 'params.ignorePaths', was: null, becomes: '/health' },
      { field: 'params.patterns', was: '^/a\n^/b', becomes: '^/b\n^/c\n^/d' },
    ]),
    [
      'window: 10s -> 1m',
      'threshold: 50 -> 80',
      'action: flag -> block',
      'block for: never (no end) -> 1h',
      'escalation: 10m, 1h -> none',
      'quiet: 0 (the window) -> 5m',
      'enabled: yes -> no',
      'description: "" -> "evil\uFFFDtxt"',
      'param ignorePaths: (not set) -> "/health"',
      'param patterns: 2 lines -> 3 lines',
      '  - ^/a',
      '  + ^/c',
      '  + ^/d',
    ],
  );
});

test('a subcommand or option typed wrong is a usage error naming it, a near one suggested, with the help', async () => {
  await assert.rejects(run(['lst']), usage(/^unknown subcommand "lst" \(did you mean list\?\): it is one of list, show, set, enable, disable, dry-run, live, reset\n\nipwatch rules list/));
  await assert.rejects(run(['dryrun', 'burst']), usage(/did you mean dry-run\?/));
  await assert.rejects(run([]), usage(/^say what to do: list, show, set/));
  await assert.rejects(run(['set', 'burst', '--treshold', '3']), usage(/^unknown option --treshold \(did you mean --threshold\?\)\n\nipwatch rules list/));
  await assert.rejects(run(['set', 'burst', '--window', '1m', '--window', '2m']), usage(/--window is given 2 times/));
  await assert.rejects(run(['show']), usage(/say which rule: ipwatch rules show <id>/));
  await assert.rejects(run(['reset', 'burst', 'path-scan']), usage(/one rule at a time \("burst", "path-scan" given\)/));
  await assert.rejects(run(['list', 'burst']), (e: Error & { code?: string }) => e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL');
});
