import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { EmitterOptionError } from '../errors.ts';
import { MAX_RATE_LIMIT, parseRate } from './rate.ts';

test('rate strings in every accepted form', () => {
  assert.deepEqual(parseRate('5/m'), { limit: 5, windowMs: 60_000, text: '5/m' });
  assert.deepEqual(parseRate('3/5m'), { limit: 3, windowMs: 300_000, text: '3/5m' });
  assert.deepEqual(parseRate('100/h'), { limit: 100, windowMs: 3_600_000, text: '100/h' });
  assert.deepEqual(parseRate('10/30s'), { limit: 10, windowMs: 30_000, text: '10/30s' });
  assert.deepEqual(parseRate('1000/d'), { limit: 1000, windowMs: 86_400_000, text: '1000/d' });
  assert.deepEqual(parseRate(' 2/s '), { limit: 2, windowMs: 1000, text: '2/s' });
  assert.equal(parseRate(`${MAX_RATE_LIMIT}/m`).limit, MAX_RATE_LIMIT);
});

test('bad rate strings fail with the accepted forms and the option name', () => {
  for (const bad of ['5/min', '5', '/m', 'five/m', '5/5', '5/m/', '-1/m', '5 / m', '1.5/m', '5/0.5m', '']) {
    assert.throws(() => parseRate(bad, 'rules.anonymous'), (err: unknown) => {
      assert.ok(err instanceof EmitterOptionError);
      assert.match(err.message, /^rules\.anonymous: /);
      assert.match(err.message, /'3\/5m'/);
      return true;
    }, bad);
  }
  assert.throws(() => parseRate(5 as unknown, 'rules.login.rate'), /rules\.login\.rate must be a rate string, not 5/);
  assert.throws(() => parseRate('0/m'), /admits no request at all; to switch the rule off, give false/);
  assert.throws(() => parseRate('5/0m'), /empty window/);
  assert.throws(() => parseRate('5/31d'), /longer than 30 days/);
});

test('a limit above 10,000 per window is refused with the same rate over a shorter window', () => {
  assert.throws(() => parseRate('100000/m', 'rules.routes[0].rate'), (err: unknown) => {
    assert.ok(err instanceof EmitterOptionError);
    assert.match(err.message, /more than 10000 requests per window/);
    assert.match(err.message, /e\.g\. '10000\/6s'/);
    return true;
  });
  assert.throws(() => parseRate('20000/h'), /e\.g\. '10000\/30m'/);
  assert.throws(() => parseRate('50000/s'), /shorter window$/);
});
