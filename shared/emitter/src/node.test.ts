import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { codecs } from '@ipwatch/core/schemas';
import { TOPICS } from '@ipwatch/core/topics';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { withIpwatch } from './node.ts';

test('withIpwatch: a plain node:http server records one event per request, behind a trusted proxy', async () => {
  const log = createMemoryEventLog();
  const handler = withIpwatch(
    (req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('hi');
    },
    { log, app: 'plain', trustedProxies: ['127.0.0.1'], bufferOptions: { flushIntervalMs: 5 } },
  );
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const path of ['/', '/missing']) await (await fetch(base + path, { headers: { 'x-forwarded-for': '203.0.113.9' } })).text();
  await handler.close();
  server.close();

  const got: LogMessage[] = [];
  const reader = await log.consume({ groupId: 'g', topics: [TOPICS.requests], handle: async (b) => void got.push(...b.messages) });
  while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
  await reader.stop();
  const events = got.map((m) => codecs.RequestEvent.decode(m.value!));
  assert.deepEqual(events.map((e) => [e.ip, e.path, e.status, e.app]), [['203.0.113.9', '/', 200, 'plain'], ['203.0.113.9', '/missing', 404, 'plain']]);
  assert.equal(handler.stats().sent, 2);
});
