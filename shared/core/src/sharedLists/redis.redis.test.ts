/**
 * The Redis shared lists against a redis-server of this test's own (startRedisServer), which
 * the last tests stop and start again to check the subscriber's connection reports.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedisServer, type TestRedis } from '../../../../test/support/redisServer.ts';
import { sharedListsContract, scanAll, waitFor } from './contract.ts';
import { createRedisSharedLists } from './redis.ts';
import type { ListChange } from '../sharedLists.ts';

let server: TestRedis;
let raw: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  raw.on('error', () => {});
  await raw.connect();
});
afterAll(async () => {
  raw.disconnect();
  await server.close();
});

// Each test gets a prefix of its own on the one server, so tests never see each other's keys.
sharedListsContract('redis', async () => createRedisSharedLists(server.url, { keyPrefix: `t:${randomUUID()}:` }));

test('redis: the key and channel layout', async () => {
  const prefix = `t:${randomUUID()}:`;
  const lists = createRedisSharedLists(server.url, { keyPrefix: prefix });
  const sniffer = raw.duplicate();
  sniffer.on('error', () => {});
  const messages: string[] = [];
  sniffer.on('message', (_ch: string, m: string) => void messages.push(m));
  await sniffer.subscribe(`${prefix}list:changes`);
  try {
    await lists.put('blocks', { target: '203.0.113.7', expiresAt: 1_900_000_000_000, record: '{"r":"a|b"}' });
    await lists.put('allow', { target: '10.0.0.0/8', expiresAt: null, record: '{}' });
    await lists.remove('blocks', '203.0.113.7');
    await lists.replace('allow', [{ target: '10.1.0.0/16', expiresAt: null, record: '{}' }]);
    assert.equal(await raw.hget(`${prefix}list:allow`, '10.1.0.0/16'), '|{}');
    assert.equal(await raw.ttl(`${prefix}list:allow`), -1, 'the renamed hash does not keep the loading TTL');
    assert.deepEqual((await raw.keys(`${prefix}*`)).sort(), [`${prefix}list:allow`, `${prefix}list:allow:written`], 'no loading hash left behind, an emptied hash is gone, the replaced list marked written');
    await waitFor(() => messages.length === 4, 'four messages');
    assert.deepEqual(messages, ['put|blocks|203.0.113.7|1900000000000|{"r":"a|b"}', 'put|allow|10.0.0.0/8||{}', 'del|blocks|203.0.113.7', 'reset|allow']);
  } finally {
    sniffer.disconnect();
    await lists.close();
  }
});

test('redis: values and messages it cannot read are skipped with a warning, not fatal', async () => {
  const prefix = `t:${randomUUID()}:`;
  const warnings: string[] = [];
  const lists = createRedisSharedLists(server.url, { keyPrefix: prefix, onWarn: (m) => void warnings.push(m) });
  const seen: ListChange[] = [];
  const sub = await lists.subscribe({ onChange: (c) => void seen.push(c), onConnection: () => {} });
  try {
    await raw.hset(`${prefix}list:blocks`, 'bad', 'no-bar', 'bad2', 'soon|{}', 'good', '5|{}');
    assert.deepEqual(await scanAll(lists, 'blocks'), [{ target: 'good', expiresAt: 5, record: '{}' }]);
    assert.match(warnings.join('\n'), /skipped 2 unreadable value/);
    await raw.publish(`${prefix}list:changes`, 'frobnicate|blocks|x');
    await lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' });
    await waitFor(() => seen.length === 1, 'the good change');
    assert.match(warnings.join('\n'), /unreadable message/);
  } finally {
    await sub.close();
    await lists.close();
  }
});

test('redis: with the store down, reads and writes fail fast and subscribe rejects', async () => {
  const down = await startRedisServer();
  await down.stop();
  const lists = createRedisSharedLists(down.url, { keyPrefix: `t:${randomUUID()}:` });
  try {
    const t0 = Date.now();
    await assert.rejects(scanAll(lists, 'blocks'));
    await assert.rejects(lists.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' }));
    await assert.rejects(lists.subscribe({ onChange: () => {}, onConnection: () => {} }), /cannot subscribe/);
    assert.ok(Date.now() - t0 < 3000, `failed within ${Date.now() - t0} ms`);
  } finally {
    await lists.close();
    await down.close();
  }
});

test('redis: the subscriber reports the store going away and coming back, and hears changes after', async () => {
  const own = await startRedisServer();
  const prefix = `t:${randomUUID()}:`;
  const reader = createRedisSharedLists(own.url, { keyPrefix: prefix });
  const writer = createRedisSharedLists(own.url, { keyPrefix: prefix });
  const connection: boolean[] = [];
  const seen: ListChange[] = [];
  const sub = await reader.subscribe({ onChange: (c) => void seen.push(c), onConnection: (up) => void connection.push(up) });
  try {
    await writer.put('blocks', { target: '192.0.2.1', expiresAt: null, record: '' });
    await waitFor(() => seen.length === 1, 'the first put');

    await own.stop();
    await waitFor(() => connection.length === 1, 'onConnection(false)');
    assert.deepEqual(connection, [false]);
    await assert.rejects(scanAll(reader, 'blocks'), 'a scan while down rejects');

    await own.start();
    await waitFor(() => connection.length === 2, 'onConnection(true)', () => JSON.stringify(connection));
    assert.deepEqual(connection, [false, true], 'one report per change of state');

    // The writer's own connection comes back within about a second too.
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await writer.put('blocks', { target: '192.0.2.2', expiresAt: null, record: 'after' });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await waitFor(() => seen.length === 2, 'the put after the restart');
    assert.deepEqual(seen[1], { op: 'put', list: 'blocks', entry: { target: '192.0.2.2', expiresAt: null, record: 'after' } });
  } finally {
    await sub.close();
    await reader.close();
    await writer.close();
    await own.close();
  }
}, 30_000);

test('redis: a replace of 200,000 entries scans back whole', async () => {
  const lists = createRedisSharedLists(server.url, { keyPrefix: `t:${randomUUID()}:` });
  try {
    const n = 200_000;
    await lists.replace('blocks', (function* () {
      for (let i = 0; i < n; i++) yield { target: `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, expiresAt: i % 2 ? null : 2e12, record: '{"source":"bench"}' };
    })());
    let count = 0;
    await lists.scan('blocks', (batch) => void (count += batch.length));
    assert.ok(count >= n, `scanned ${count}`); // HSCAN may repeat an entry, never skip one
  } finally {
    await lists.close();
  }
}, 60_000);
