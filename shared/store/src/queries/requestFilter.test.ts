import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { FilterError, parseRequestFilter, parseTimeBound } from './requestFilter.ts';

const now = Date.parse('2026-11-30T12:00:00Z');

test('a date the calendar does not have is refused, not rolled over into the next month', () => {
  for (const since of ['2026-02-30', '2026-02-29T10:00:00Z', '2026-04-31', '2026-00-10', '2026-13-01']) {
    assert.throws(() => parseRequestFilter({ since }, now), (e: Error) => e instanceof FilterError && /--since ".*" is not a real date/.test(e.message), since);
  }
  assert.throws(() => parseRequestFilter({ until: '2026-02-30' }, now), /--until "2026-02-30" is not a real date \(2026-02-30 is not a day of that month\): give a day the month has, e.g. 2026-02-01/);
  assert.equal(parseTimeBound('2028-02-29', now, '--since'), Date.parse('2028-02-29'));
  assert.equal(parseTimeBound('2026-11-24T10:00:00Z', now, '--since'), Date.parse('2026-11-24T10:00:00Z'));
  assert.equal(parseTimeBound('15m', now, '--since'), now - 15 * 60_000);
});

test('an empty filter is refused, not read as no filter', () => {
  assert.throws(() => parseRequestFilter({ ip: '' }, now), (e: Error) => e instanceof FilterError && /--ip is empty: give a value .*or leave --ip out/.test(e.message));
  assert.throws(() => parseRequestFilter({ since: '' }, now), /--since is empty/);
  assert.deepEqual(parseRequestFilter({}, now), { limit: 50 });
});

test('an address with a port is refused: the filter is by address', () => {
  assert.throws(() => parseRequestFilter({ ip: '203.0.113.7:443' }, now), (e: Error) => e instanceof FilterError && /--ip: "203\.0\.113\.7:443" has a port.*\(203\.0\.113\.7\)/.test(e.message));
  assert.deepEqual(parseRequestFilter({ ip: '203.0.113.7' }, now).ipRange, { from: '::ffff:203.0.113.7', to: '::ffff:203.0.113.7' });
});
