import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { codecs, SCHEMA_HEADER, type RateLimitEvent } from '@ipwatch/core/schemas';
import type { EventBuffer } from '../eventBuffer.ts';
import { createRateLimitEventAggregator } from './rateLimitEvents.ts';

/** An EventBuffer that keeps what it is given (accepting up to `room` events). */
function capturingBuffer(room = Infinity) {
  const pushed: Array<{ key: string | null; event: RateLimitEvent; headers: Record<string, string> | undefined }> = [];
  const buffer: EventBuffer = {
    push: (key, value, headers) => {
      if (pushed.length >= room) return false;
      pushed.push({ key, event: { ...codecs.RateLimitEvent.decode(value) }, headers });
      return true;
    },
    flush: () => Promise.resolve(true),
    close: () => Promise.resolve(),
    stats: () => ({ buffered: 0, sent: 0, dropped: 0, droppedByReason: { buffer_full: 0, closed: 0, close_timeout: 0 }, failures: 0, consecutiveFailures: 0, lastError: null, inFlightMs: null }),
  };
  return { buffer, pushed };
}

const anon = { rule: 'anonymous', limitKey: '203.0.113.7', limit: 5, windowMs: 60_000 };

test('a flood under one key becomes one event with its count, keyed by IP, with the schema header', () => {
  const { buffer, pushed } = capturingBuffer();
  const agg = createRateLimitEventAggregator({ buffer, app: 'shop', now: () => 1_700_000_000_000 });
  for (let i = 0; i < 1000; i++) agg.record(anon, '203.0.113.7', i === 0 ? '/first' : '/later', null);
  agg.record({ rule: 'login-user', limitKey: 'login-user:alice', limit: 3, windowMs: 300_000 }, '198.51.100.1', '/login', null);
  assert.equal(pushed.length, 0, 'nothing sent before the flush');
  assert.equal(agg.flush(), 2);
  assert.deepEqual(pushed[0], {
    key: '203.0.113.7',
    headers: { [SCHEMA_HEADER]: 'RateLimitEvent' },
    event: { ts: 1_700_000_000_000, ip: '203.0.113.7', rule: 'anonymous', limitKey: '203.0.113.7', limit: 5, windowMs: 60_000, count: 1000, path: '/first', userId: null, app: 'shop' },
  });
  assert.equal(pushed[1]!.event.count, 1);
  assert.equal(pushed[1]!.event.rule, 'login-user');
  assert.deepEqual(agg.stats(), { recorded: 1001, folded: 999, dropped: 0, events: 2, bufferDropped: 0, overflow: 0, pending: 0, encodeErrors: 0 });
  // a new interval starts a new event
  agg.record(anon, '203.0.113.7', '/', 'u1');
  agg.flush();
  assert.equal(pushed[2]!.event.count, 1);
  assert.equal(pushed[2]!.event.userId, 'u1');
});

test('distinct keys per interval are bounded; the rest are counted as overflow', () => {
  const { buffer, pushed } = capturingBuffer();
  const agg = createRateLimitEventAggregator({ buffer, maxKeys: 10 });
  for (let i = 0; i < 10_000; i++) agg.record({ ...anon, limitKey: `10.0.${i >> 8}.${i & 255}` }, `10.0.${i >> 8}.${i & 255}`, '/', null);
  agg.record({ ...anon, limitKey: '10.0.0.0' }, '10.0.0.0', '/', null); // already pending: folded, not overflow
  assert.equal(agg.flush(), 10);
  assert.equal(pushed.length, 10);
  const s = agg.stats();
  assert.equal(s.overflow, 9_990);
  assert.equal(s.dropped, 9_990);
  assert.equal(s.folded, 1);
});

test('events the buffer refuses are counted with their refusals', () => {
  const { buffer } = capturingBuffer(1);
  const agg = createRateLimitEventAggregator({ buffer });
  agg.record(anon, '203.0.113.7', '/', null);
  agg.record({ ...anon, limitKey: 'b' }, '203.0.113.8', '/', null);
  agg.record({ ...anon, limitKey: 'b' }, '203.0.113.8', '/', null);
  assert.equal(agg.flush(), 1);
  assert.equal(agg.stats().bufferDropped, 1);
  assert.equal(agg.stats().dropped, 2);
});

test('hostile paths and user ids are bounded and made printable', () => {
  const { buffer, pushed } = capturingBuffer();
  const agg = createRateLimitEventAggregator({ buffer });
  agg.record(anon, '203.0.113.7', `/${'a'.repeat(10_000)}\u0000`, 'x'.repeat(5000));
  agg.flush();
  assert.ok(pushed[0]!.event.path.length <= 2048);
  assert.equal(pushed[0]!.event.userId!.length, 1024);
});

test('flushes on its own after flushMs; close flushes and stops', async () => {
  const { buffer, pushed } = capturingBuffer();
  const agg = createRateLimitEventAggregator({ buffer, flushMs: 20 });
  agg.record(anon, '203.0.113.7', '/', null);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(pushed.length, 1);
  agg.record(anon, '203.0.113.7', '/', null);
  agg.close();
  assert.equal(pushed.length, 2);
  agg.record(anon, '203.0.113.7', '/', null);
  assert.equal(agg.flush(), 0);
  assert.equal(agg.stats().overflow, 1);
});

test('bad options fail at construction', () => {
  assert.throws(() => createRateLimitEventAggregator({ buffer: {} as EventBuffer }), /buffer must be an EventBuffer/);
  const { buffer } = capturingBuffer();
  assert.throws(() => createRateLimitEventAggregator({ buffer, flushMs: 0 }), /flushMs/);
  assert.throws(() => createRateLimitEventAggregator({ buffer, maxKeys: -1 }), /maxKeys/);
});
