import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { createApiApp } from './apiServer.ts';

async function serve(token: string | null) {
  const server = createApiApp({ analytics: await testAnalytics(), token }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A raw GET, so the test can send any Host header (fetch would not). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: string; total?: number; rows?: unknown[] } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('with a token: required, compared, and never echoed', async () => {
  const { server, port } = await serve('s3cret-token-value');
  assert.equal((await get(port, '/api/requests')).status, 401);
  assert.equal((await get(port, '/api/requests', { authorization: 'Bearer wrong' })).status, 401);
  const ok = await get(port, '/api/requests?limit=1', { authorization: 'Bearer s3cret-token-value' });
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
