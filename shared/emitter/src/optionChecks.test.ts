import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import { EmitterOptionError } from './errors.ts';
import { oneOf, optionalFunction, trueOrFalse, wholeNumber } from './optionChecks.ts';

test('wholeNumber: in range passes through; out of range, fractional or not a number is a coded error naming the option', () => {
  assert.equal(wholeNumber('maxEvents', 5, 1, 10), 5);
  assert.equal(wholeNumber('maxEvents', 1, 1, 10), 1);
  for (const bad of [0, 11, 2.5, '5', null, Number.NaN]) {
    assert.throws(() => wholeNumber('maxEvents', bad, 1, 10), (err: unknown) => err instanceof EmitterOptionError && err.code === 'IPWATCH_BAD_OPTION' && err.message.startsWith('maxEvents must be a whole number from 1 to 10, not '));
  }
  assert.throws(() => wholeNumber('retryIntervalMs', 0, 1, 600_000, 'ms'), /^EmitterOptionError: retryIntervalMs must be a whole number of ms from 1 to 600000, not 0$/);
});

test('oneOf: a listed choice passes through; anything else lists them, with their meanings', () => {
  assert.equal(oneOf('by', 'user', ['ip', 'user', 'ip+user']), 'user');
  assert.equal(oneOf('statusCode', 403, [429, 403]), 403);
  assert.throws(() => oneOf('by', 'session', ['ip', 'user', 'ip+user']), /^EmitterOptionError: by must be 'ip', 'user' or 'ip\+user', not "session"$/);
  assert.throws(() => oneOf('statusCode', 500, [429, 403], { 429: 'Too Many Requests, the default' }), /statusCode must be 429 \(Too Many Requests, the default\) or 403, not 500$/);
  assert.throws(() => oneOf('only', 'b', ['a']), /only must be 'a', not "b"$/);
});

test('trueOrFalse and optionalFunction', () => {
  assert.equal(trueOrFalse('headers', false), false);
  assert.throws(() => trueOrFalse('headers', 'yes'), /headers must be true or false, not "yes"/);
  const hook = (): void => undefined;
  assert.equal(optionalFunction('onLimited', hook, '(event) => void'), hook);
  assert.equal(optionalFunction('onLimited', undefined, '(event) => void'), undefined);
  assert.throws(() => optionalFunction('onLimited', 'log' as never, '(event) => void'), /^EmitterOptionError: onLimited must be a function \(event\) => void$/);
});
