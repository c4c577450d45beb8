/**
 * The block mirror over the Redis shared lists, against a redis-server of this test's own
 * that it stops and starts again: a change arrives in well under a second, the last state
 * is enforced while Redis is down, and the mirror catches up when it is back.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, test } from '@jest/globals';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import type { SharedLists } from '@ipwatch/core/sharedLists';
import { startRedisServer, type TestRedis } from '../../../../test/support/redisServer.ts';
import { createBlockMirror } from './blockMirror.ts';

let server: TestRedis;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.close();
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - t0;
}

/** A write that waits for the writer's own connection to come back after a restart. */
async function retrying(what: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await what();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const entry = (target: string, expiresAt: number | null = null) => ({ target, expiresAt, record: JSON.stringify({ target, reason: 'test' }) });

test('redis: loads, then each put reaches the mirror', async () => {
  const writer = createRedisSharedLists(server.url, { keyPrefix: 'mirror-a:' });
  const reader = createRedisSharedLists(server.url, { keyPrefix: 'mirror-a:' });
  try {
    await writer.replace('blocks', [entry('203.0.113.0/24'), entry('2001:db8::/32')]);
    await writer.replace('allow', [entry('203.0.113.10')]);
    const mirror = createBlockMirror({ lists: reader });
    await mirror.ready;
    assert.equal(mirror.check('203.0.113.5'), 'blocked');
    assert.equal(mirror.check('203.0.113.10'), 'allowed');
    assert.equal(mirror.check('2001:db8::77'), 'blocked');
    for (let i = 0; i < 20; i++) {
      const ip = `198.51.100.${i}`;
      await writer.put('blocks', entry(ip));
      await waitFor(() => mirror.isBlocked(ip), `${ip} blocked`);
    }
    await writer.remove('blocks', '198.51.100.0');
    await waitFor(() => !mirror.isBlocked('198.51.100.0'), 'the removal');
    assert.deepEqual([mirror.health().state, mirror.state().synced], ['ok', true]);
    await mirror.close();
  } finally {
    await writer.close();
    await reader.close();
  }
});

test('redis: stopped, the last state is still enforced and state() says stale; back, the mirror catches up with what changed meanwhile', async () => {
  const own = await startRedisServer();
  const writer = createRedisSharedLists(own.url, { keyPrefix: 'mirror-b:' });
  const reader: SharedLists = createRedisSharedLists(own.url, { keyPrefix: 'mirror-b:' });
  const warnings: string[] = [];
  const mirror = createBlockMirror({ lists: reader, onWarn: (m) => void warnings.push(m) });
  try {
    await writer.replace('blocks', [entry('192.0.2.1'), entry('192.0.2.2'), entry('10.0.0.0/8')]);
    await writer.replace('allow', []);
    await mirror.ready;
    warnings.length = 0; // the mirror may have looked before the lists were written
    await waitFor(() => mirror.state().blocks === 3, 'the first list');

    await own.stop();
    await waitFor(() => mirror.state().stale, 'stale');
    const down = mirror.state();
    assert.deepEqual([down.connected, down.synced, down.stale, down.blocks], [false, false, true, 3]);
    assert.equal(mirror.check('192.0.2.1'), 'blocked', 'enforced while Redis is down');
    assert.equal(mirror.check('10.20.30.40'), 'blocked');
    const health = mirror.health();
    assert.equal(health.state, 'degraded');
    assert.match(health.detail ?? '', /serving 3 blocks from \d+ s ago, store unreachable/);
    await new Promise((r) => setTimeout(r, 1500)); // a few failed retries: still serving, one warning only
    assert.equal(mirror.check('192.0.2.2'), 'blocked');
    assert.equal(warnings.length, 1, warnings.join(' | '));

    // Back, empty (a restarted Redis without persistence); blocksync fills it again, differently.
    await own.start();
    // blocksync rewrites both lists into the restarted (empty) Redis
    await retrying(() => writer.replace('blocks', [entry('192.0.2.2'), entry('198.51.100.0/24')]));
    await writer.replace('allow', []);
    await retrying(() => writer.put('allow', entry('198.51.100.7')));
    await waitFor(() => mirror.state().synced && mirror.check('198.51.100.9') === 'blocked' && mirror.check('198.51.100.7') === 'allowed', 'caught up');
    assert.equal(mirror.check('192.0.2.1'), null, 'gone from the new list');
    assert.equal(mirror.check('10.20.30.40'), null);
    assert.equal(mirror.check('192.0.2.2'), 'blocked');
    const s = mirror.state();
    assert.deepEqual([s.connected, s.stale, s.blocks, s.allows], [true, false, 2, 1]);
    assert.ok(s.resyncs >= 1);
    assert.equal(mirror.health().state, 'ok');
    assert.match(warnings.at(-1) ?? '', /back in sync/);

    // And live changes flow again.
    await writer.put('blocks', entry('203.0.113.99'));
    await waitFor(() => mirror.isBlocked('203.0.113.99'), 'a put after the restart');
  } finally {
    await mirror.close();
    await writer.close();
    await reader.close();
    await own.close();
  }
}, 60_000);

test('redis: unreachable at start, the mirror is degraded, retries, and loads once Redis answers', async () => {
  const own = await startRedisServer();
  await own.stop();
  const reader = createRedisSharedLists(own.url, { keyPrefix: 'mirror-c:' });
  const mirror = createBlockMirror({ lists: reader, onWarn: () => {} });
  let ready = false;
  void mirror.ready.then(() => (ready = true));
  try {
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(ready, false);
    assert.equal(mirror.health().state, 'degraded');
    assert.match(mirror.health().detail ?? '', /no lists loaded yet/);
    await own.start();
    const writer = createRedisSharedLists(own.url, { keyPrefix: 'mirror-c:' });
    await retrying(() => writer.replace('blocks', [entry('192.0.2.50')]));
    await writer.replace('allow', []);
    await mirror.ready;
    await waitFor(() => mirror.isBlocked('192.0.2.50'), 'the block');
    await writer.close();
  } finally {
    await mirror.close();
    await reader.close();
    await own.close();
  }
}, 60_000);
