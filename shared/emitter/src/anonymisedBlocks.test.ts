/**
 * Blocks and allows on anonymised identities: with `anonymise` on, events (and so
 * detections and the blocks they lead to) name the identity (203.0.113.0 for a truncated
 * /24, a 2001:db8::/32 pseudonym in hash mode), and enforcement refuses the real clients
 * behind it, while blocks of real addresses still hold. Through the framework-neutral
 * tracker on node:http and through the Express middleware, with the real block mirror over
 * the in-process shared lists.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { codecs, type RequestEvent } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createIpAnonymiser, type IpAnonymiserOptions } from './anonymise.ts';
import { createTracker } from './tracker.ts';
import { ipwatch } from './express.ts';
import { loadedMirror, until } from './adapterExpectations.test-support.ts';

const KEY = 'a test key of at least 16 bytes';
const HASH: IpAnonymiserOptions = { mode: 'hash', key: KEY };
const pseudonym = (ip: string) => createIpAnonymiser(HASH).anonymise(ip);

/**
 * The tracker on a bare node:http server, behind 127.0.0.1 as a trusted proxy; `status(ip)`
 * is what a client of that address gets. The mirror's lookups are counted (the real mirror,
 * its check wrapped).
 */
async function trackerApp(anonymise: IpAnonymiserOptions, blocks: string[], allow: string[] = []) {
  const log = createMemoryEventLog();
  const blockMirror = await loadedMirror(blocks, allow);
  let lookups = 0;
  const check = blockMirror.check;
  blockMirror.check = (ip) => {
    lookups++;
    return check(ip);
  };
  const tracker = createTracker<IncomingMessage>({ log, trustedProxies: ['127.0.0.1'], anonymise, blockMirror, bufferOptions: { flushIntervalMs: 5 } }, 'test');
  const server = createServer((req, res) => tracker.enter(req, res, req, () => void res.end('ok')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const messages: LogMessage[] = [];
  const consumer = await log.consume({ groupId: 'read', topics: [TOPICS.requests], handle: async (b) => void messages.push(...b.messages) });
  return {
    tracker,
    lookups: () => lookups,
    async status(ip: string): Promise<number> {
      const res = await fetch(base, { headers: { 'x-forwarded-for': ip } });
      await res.text();
      return res.status;
    },
    /** Status per address, as one object (an assertion failure shows them all). */
    async statuses(ips: string[]): Promise<Record<string, number>> {
      const out: Record<string, number> = {};
      for (const ip of ips) out[ip] = await this.status(ip);
      return out;
    },
    events: (): RequestEvent[] => messages.map((m) => codecs.RequestEvent.decode(m.value!)),
    async close() {
      server.closeAllConnections();
      server.close();
      await tracker.close();
      await consumer.stop();
      await blockMirror.close();
      await log.close();
    },
  };
}

describe('enforcement with anonymisation, through the tracker', () => {
  test('off: only real addresses are looked up (one lookup per request); a block of 203.0.113.0 refuses that address alone', async () => {
    const t = await trackerApp({ mode: 'off' }, ['203.0.113.0', '198.51.100.9'], ['192.0.2.0']);
    try {
      assert.deepEqual(await t.statuses(['203.0.113.0', '203.0.113.7', '198.51.100.9', '198.51.100.10']), { '203.0.113.0': 403, '203.0.113.7': 200, '198.51.100.9': 403, '198.51.100.10': 200 });
      assert.equal(t.lookups(), 4);
    } finally {
      await t.close();
    }
  });

  test('truncate, IPv4: a block of the identity 203.0.113.0 refuses every client of 203.0.113.0/24; blocks of real addresses still hold', async () => {
    const t = await trackerApp({ mode: 'truncate' }, ['203.0.113.0', '198.51.100.9']);
    try {
      assert.deepEqual(await t.statuses(['203.0.113.7', '203.0.113.200', '203.0.114.1', '198.51.100.9', '198.51.100.10']), {
        '203.0.113.7': 403,
        '203.0.113.200': 403,
        '203.0.114.1': 200,
        '198.51.100.9': 403, // a manual block of a real address
        '198.51.100.10': 200, // its identity 198.51.100.0 is not blocked
      });
      assert.equal(t.tracker.stats().blocked, 3);
      await until(() => t.events().length === 5, 'five events');
      assert.deepEqual(t.events().map((e) => [e.ip, e.blocked]), [['203.0.113.0', true], ['203.0.113.0', true], ['203.0.114.0', false], ['198.51.100.0', true], ['198.51.100.0', false]]);
    } finally {
      await t.close();
    }
  });

  test('truncate, IPv4: an allow on the identity allows the clients behind it (over a block of a real address); an allow of a real address wins over a block of its identity', async () => {
    const t = await trackerApp({ mode: 'truncate' }, ['192.0.2.5', '203.0.113.0'], ['192.0.2.0', '203.0.113.10']);
    try {
      assert.deepEqual(await t.statuses(['192.0.2.5', '203.0.113.10', '203.0.113.11']), { '192.0.2.5': 200, '203.0.113.10': 200, '203.0.113.11': 403 });
      assert.equal(t.tracker.stats().allowlisted, 2);
    } finally {
      await t.close();
    }
  });

  test('truncate, IPv6 (/48 kept): a block of the identity 2001:db8:1:: refuses the whole /48, and a scorer block of its /64 too', async () => {
    const t = await trackerApp({ mode: 'truncate' }, ['2001:db8:1::', '2001:db8:7::/64']);
    try {
      assert.deepEqual(await t.statuses(['2001:db8:1:2::3', '2001:db8:1:ffff::1', '2001:db8:2::1', '2001:db8:7:9::1', '2001:db8:8::1']), {
        '2001:db8:1:2::3': 403,
        '2001:db8:1:ffff::1': 403,
        '2001:db8:2::1': 200,
        '2001:db8:7:9::1': 403, // identity 2001:db8:7:: is inside the blocked 2001:db8:7::/64
        '2001:db8:8::1': 200,
      });
    } finally {
      await t.close();
    }
  });

  test('hash: a block of a pseudonym refuses exactly the client it stands for; an allow of a pseudonym lets a blocked address through', async () => {
    const t = await trackerApp(HASH, [pseudonym('203.0.113.7'), '198.51.100.0/24'], [pseudonym('198.51.100.20')]);
    try {
      assert.deepEqual(await t.statuses(['203.0.113.7', '203.0.113.8', '203.0.113.6', '198.51.100.19', '198.51.100.20']), {
        '203.0.113.7': 403,
        '203.0.113.8': 200,
        '203.0.113.6': 200,
        '198.51.100.19': 403, // a CIDR of real addresses still holds
        '198.51.100.20': 200,
      });
      await until(() => t.events().length === 5, 'five events');
      assert.equal(t.events()[0]!.ip, pseudonym('203.0.113.7'));
      assert.equal(t.events()[0]!.blocked, true);
      // the pseudonym was computed once per request and shared by enforcement and the event: two lookups each
      assert.equal(t.lookups(), 10);
    } finally {
      await t.close();
    }
  });

  test('hash, IPv6: a block of one address\u2019s pseudonym refuses that address only, not its /64 neighbours', async () => {
    const t = await trackerApp(HASH, [pseudonym('2001:db8:abcd:1::5')]);
    try {
      assert.deepEqual(await t.statuses(['2001:db8:abcd:1::5', '2001:db8:abcd:1::6']), { '2001:db8:abcd:1::5': 403, '2001:db8:abcd:1::6': 200 });
    } finally {
      await t.close();
    }
  });
});

describe('enforcement with anonymisation, in the Express middleware', () => {
  async function expressApp(anonymise: IpAnonymiserOptions, blocks: string[], allow: string[] = []) {
    const log = createMemoryEventLog();
    const blockMirror = await loadedMirror(blocks, allow);
    const tracker = ipwatch({ log, trustedProxies: ['127.0.0.1'], anonymise, blockMirror });
    const app = express();
    app.use(tracker);
    app.get('/', (_req, res) => void res.send('ok'));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    server.on('upgrade', (req, socket) => {
      if (tracker.allowUpgrade(req, socket)) socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    });
    const port = (server.address() as AddressInfo).port;
    return {
      async status(ip: string): Promise<number> {
        const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': ip } });
        await res.text();
        return res.status;
      },
      upgrade: (ip: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, headers: { connection: 'Upgrade', upgrade: 'test', 'x-forwarded-for': ip } });
          req.on('upgrade', (res, socket) => {
            socket.destroy();
            resolve(res.statusCode ?? 0);
          });
          req.on('response', (res) => resolve(res.statusCode ?? 0));
          req.on('error', reject);
          req.end();
        }),
      async close() {
        server.closeAllConnections();
        server.close();
        await tracker.close();
        await blockMirror.close();
        await log.close();
      },
    };
  }

  test('truncate: requests and WebSocket upgrades of every client behind a blocked identity are refused; an allowed identity lets its clients through', async () => {
    const t = await expressApp({ mode: 'truncate' }, ['203.0.113.0', '192.0.2.0/24'], ['192.0.2.0']);
    try {
      assert.deepEqual([await t.status('203.0.113.50'), await t.status('198.51.100.1'), await t.status('192.0.2.9')], [403, 200, 200]);
      assert.deepEqual([await t.upgrade('203.0.113.50'), await t.upgrade('198.51.100.1'), await t.upgrade('192.0.2.9')], [403, 101, 101]);
    } finally {
      await t.close();
    }
  });

  test('hash: a blocked pseudonym refuses its client, for requests and upgrades; its neighbours are served', async () => {
    const t = await expressApp(HASH, [pseudonym('203.0.113.7')]);
    try {
      assert.deepEqual([await t.status('203.0.113.7'), await t.status('203.0.113.8')], [403, 200]);
      assert.deepEqual([await t.upgrade('203.0.113.7'), await t.upgrade('203.0.113.8')], [403, 101]);
    } finally {
      await t.close();
    }
  });
});
