import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from '@jest/globals';
import { firstEvent, withDeadline } from './deadline.ts';

test('withDeadline: the value when in time, the message as an error when not', async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 1000, 'late'), 7);
  await assert.rejects(withDeadline(new Promise(() => undefined), 20, 'the group did not join'), /^Error: the group did not join$/);
  await assert.rejects(withDeadline(Promise.reject(new Error('refused')), 1000, 'late'), /refused/);
});

test('firstEvent: the first of the events, or null at the deadline; no listener is left behind', async () => {
  const emitter = new EventEmitter();
  const first = firstEvent(emitter, ['ready', 'close'], 1000);
  emitter.emit('close');
  emitter.emit('ready');
  assert.equal(await first, 'close');
  assert.equal(await firstEvent(emitter, ['ready'], 20), null);
  assert.equal(emitter.listenerCount('ready') + emitter.listenerCount('close'), 0);
});
