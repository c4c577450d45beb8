import { jest, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createApiApp, type ApiOptions } from './apiServer.ts';
import { openListsView } from './listsView.ts';
import { createListChanges } from './listChanges.ts';
import { assertRefused } from '../../../test/support/refusal.ts';

/** A token as `openssl rand -hex 32` makes one: the api refuses weaker ones. */
const TOKEN = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';

async function serve(token: string | null, extra: Partial<ApiOptions> = {}) {
  const server = createApiApp({ analytics: await testAnalytics(), token, ...extra }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A raw GET, so the test can send any Host header (fetch would not). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: { error?: string; code?: string; total?: number; rows?: unknown[] } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as never }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('with a token: required, compared, and never echoed', async () => {
  const { server, port } = await serve(TOKEN);
  assert.equal((await get(port, '/api/requests')).status, 401);
  assert.equal((await get(port, '/api/requests', { authorization: 'Bearer wrong' })).status, 401);
  const ok = await get(port, '/api/requests?limit=1', { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.ok(Array.isArray(ok.body.rows));
  server.close();
});

test('without a token: loopback Host only (a rebinding page is refused)', async () => {
  const { server, port } = await serve(null);
  assert.equal((await get(port, '/api/status', { host: `127.0.0.1:${port}` })).status, 200);
  assert.equal((await get(port, '/api/status', { host: `localhost:${port}` })).status, 200);
  const rebound = await get(port, '/api/requests', { host: 'attacker.example:7070' });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body.error ?? '', /only requests addressed to 127.0.0.1/);
  server.close();
});

test('bad filters are 400 with the reason; repeated filters are refused; unknown paths are 404', async () => {
  const { server, port } = await serve(null);
  const bad = await get(port, '/api/requests?status=teapot');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error ?? '', /use 404, 4xx/);
  assert.equal((await get(port, '/api/requests?ip=1.2.3.4&ip=5.6.7.8')).status, 400);
  const hostile = await get(port, `/api/requests?path=${encodeURIComponent("' OR 1=1; DROP TABLE requests --")}`);
  assert.equal(hostile.status, 200, 'hostile text is a value, not SQL');
  assert.equal((await get(port, '/api/nothing')).status, 404);
  server.close();
});

test('a page of another origin is refused, even with the right Host; the same origin and the CLI (no Origin) are not', async () => {
  const { server, port } = await serve(null);
  const base = `http://127.0.0.1:${port}`;
  try {
    const evil = await fetch(`${base}/api/status`, { headers: { origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
    assert.match(((await evil.json()) as { error: string }).error, /cross-origin/);
    const same = await fetch(`${base}/api/status`, { headers: { origin: base } });
    assert.equal(same.status, 200);
    assert.equal((await fetch(`${base}/api/status`)).status, 200);
  } finally {
    server.close();
  }
});


test('every refusal carries its registry code: token, loopback, filter, endpoint, lists', async () => {
  const secured = await serve(TOKEN);
  const noToken = await get(secured.port, '/api/requests');
  assertRefused(noToken, 'IPWATCH_BAD_TOKEN', /set IPWATCH_API_TOKEN/);
  assert.equal(noToken.headers['www-authenticate'], 'Bearer');
  assertRefused(await get(secured.port, '/api/requests', { authorization: 'Bearer wrong' }), 'IPWATCH_BAD_TOKEN');
  secured.server.close();

  const { server, port } = await serve(null);
  assertRefused(await get(port, '/api/status', { host: 'attacker.example' }), 'IPWATCH_LOOPBACK_ONLY');
  assertRefused(await get(port, '/api/status', { origin: 'http://evil.example' }), 'IPWATCH_CROSS_ORIGIN');
  assertRefused(await get(port, '/api/requests?since=yesterday'), 'IPWATCH_BAD_FILTER', /15m, 2h, 7d/);
  assertRefused(await get(port, '/api/requests?ip=10.0.0.1/8'), 'IPWATCH_BAD_FILTER', /did you mean 10\.0\.0\.0\/8/);
  assertRefused(await get(port, '/api/block-events?target=10.0.0.5/24'), 'IPWATCH_INVALID_ADDRESS', /did you mean 10\.0\.0\.0\/24/);
  assertRefused(await get(port, '/api/nothing'), 'IPWATCH_NO_SUCH_ENDPOINT');
  assertRefused(await get(port, '/api/blocks'), 'IPWATCH_LISTS_UNAVAILABLE');
  server.close();
});

test('an unknown failure is 500 IPWATCH_INTERNAL with a generic message: what it said stays in the log', async () => {
  const leaked = "SELECT secret FROM ipwatch.requests WHERE ip = '203.0.113.7'";
  const logged: string[] = [];
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => logged.push(String(chunk)) > 0);
  const { server, port } = await serve(null, {
    status: () => {
      throw new Error(leaked);
    },
  });
  const answer = await get(port, '/api/status');
  server.close();
  stderr.mockRestore();
  assertRefused(answer, 'IPWATCH_INTERNAL', /log has the cause/);
  assert.doesNotMatch(JSON.stringify(answer.body), /SELECT|secret/);
  assert.match(logged.join(''), /SELECT secret/, 'the cause goes to the service log');
});

test('changes to the lists: not JSON, bad JSON, a bad field, nothing to remove, each with its code', async () => {
  const log = createMemoryEventLog();
  const view = await openListsView(log, () => {});
  await view.ready;
  const analytics = await testAnalytics();
  const { server, port } = await serve(null, { lists: { view, changes: createListChanges({ log, view, analytics, warn: () => {} }) } });
  const base = `http://127.0.0.1:${port}`;
  const send = async (method: string, path: string, body?: string, type = 'application/json') => {
    const res = await fetch(`${base}${path}`, { method, ...(body !== undefined && { body, headers: { 'content-type': type } }) });
    return { status: res.status, body: (await res.json()) as { error?: string; code?: string } };
  };
  try {
    assertRefused(await send('POST', '/api/blocks', 'target=203.0.113.7', 'application/x-www-form-urlencoded'), 'IPWATCH_NOT_JSON');
    assertRefused(await send('POST', '/api/blocks', '{"target":'), 'IPWATCH_BAD_BODY', /the request body was refused/);
    assertRefused(await send('POST', '/api/blocks', JSON.stringify({ target: 'x'.repeat(20_000) })), 'IPWATCH_BODY_TOO_LARGE');
    assertRefused(await send('POST', '/api/blocks', JSON.stringify({ target: '203.0.113.7', expires: 'tomorrow' })), 'IPWATCH_BAD_DECISION', /not understood/);
    assertRefused(await send('POST', '/api/blocks', JSON.stringify({ target: 'example.com' })), 'IPWATCH_INVALID_ADDRESS');
    assertRefused(await send('DELETE', '/api/blocks?target=203.0.113.99'), 'IPWATCH_NOT_LISTED', /is not blocked/);
  } finally {
    server.close();
    await view.stop();
    await log.close();
  }
});
