import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseArgsOnce } from './strictArgs.ts';
import { UsageError } from './output.ts';

const options = { ip: { type: 'string' }, json: { type: 'boolean' }, tag: { type: 'string', multiple: true } } as const;

test('options given once are read as parseArgs reads them', () => {
  const { values, positionals } = parseArgsOnce(['--ip', '203.0.113.7', '--json', 'x'], options, true);
  assert.equal(values.ip, '203.0.113.7');
  assert.equal(values.json, true);
  assert.deepEqual([...positionals], ['x']); // copied: parseArgs builds its arrays in node's realm, not the test's
  assert.deepEqual([...(parseArgsOnce(['--tag', 'a', '--tag', 'b'], options).values.tag ?? [])], ['a', 'b'], 'a multiple option may repeat');
});

test('an option given twice is refused, named, not read as its last value', () => {
  assert.throws(
    () => parseArgsOnce(['--ip', '1.2.3.4', '--ip=5.6.7.8'], options),
    (e: Error) => e instanceof UsageError && e.message === '--ip is given 2 times: give each option once (a CIDR such as 203.0.113.0/24 covers a range of addresses)',
  );
  assert.throws(() => parseArgsOnce(['--json', '--json'], options), /--json is given 2 times/);
});

test('an empty value is refused (an unset shell variable), as are unknown options', () => {
  assert.throws(() => parseArgsOnce(['--ip', ''], options), /--ip is empty: give it a value, or leave --ip out/);
  assert.throws(() => parseArgsOnce(['--ip='], options), /--ip is empty/);
  assert.throws(() => parseArgsOnce(['--ipp', 'x'], options), /Unknown option '--ipp'/);
});
