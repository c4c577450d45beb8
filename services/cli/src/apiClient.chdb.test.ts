import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@ipwatch/core/config';
import { exitCodeOf, IpwatchError } from '@ipwatch/core/errors';
import { createApiApp } from '@ipwatch/api';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { apiGet, ApiError, ApiUnreachable } from './apiClient.ts';

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Tokens as `openssl rand -hex 32` makes them: the api and the CLI refuse weaker ones. */
const RIGHT = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';
const WRONG = '9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e';

const configFor = (port: number, token?: string) => loadConfig({ IPWATCH_API_PORT: String(port), ...(token && { IPWATCH_API_TOKEN: token }) });

/** Rejects with an ApiError of `code`, the api's message, and the registry's exit code. */
async function assertApiError(call: Promise<unknown>, code: string, message: RegExp, exit: number): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof ApiError && err instanceof IpwatchError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.equal(exitCodeOf(err), exit);
    return true;
  });
}

test("the api's code comes back as the error's code, so the CLI exits as the registry says", async () => {
  const server = createApiApp({ analytics: await testAnalytics(), token: RIGHT }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    await assertApiError(apiGet(configFor(port, WRONG), '/api/v1/requests'), 'IPWATCH_BAD_TOKEN', /missing or wrong API token/, 2);
    await assertApiError(apiGet(configFor(port, RIGHT), '/api/v1/requests', { status: 'teapot' }), 'IPWATCH_BAD_FILTER', /use 404, 4xx/, 2);
    await assertApiError(apiGet(configFor(port, RIGHT), '/api/v1/blocks'), 'IPWATCH_LISTS_UNAVAILABLE', /without the event log/, 1);
  } finally {
    server.close();
  }
});

test('the CLI sends the token it is given, as set (name:secret too), as a Bearer credential', async () => {
  const seen: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const port = await listen(server);
  try {
    await apiGet(configFor(port, RIGHT), '/api/v1/status');
    await apiGet(configFor(port, `ops:${RIGHT}`), '/api/v1/status');
    await apiGet(configFor(port), '/api/v1/status');
  } finally {
    server.close();
  }
  assert.deepEqual(seen, [`Bearer ${RIGHT}`, `Bearer ops:${RIGHT}`, undefined]);
});

test('an answer without a known code (another program on the port) is IPWATCH_API_REFUSED, its text made printable', async () => {
  const answers = [
    { status: 418, body: JSON.stringify({ error: 'short and stout \u001b[31m', code: 'NOT_OURS' }) },
    { status: 502, body: '<html>Bad Gateway</html>' },
  ];
  const server = createServer((_req, res) => {
    const next = answers.shift()!;
    res.writeHead(next.status, { 'content-type': 'application/json' }).end(next.body);
  });
  const port = await listen(server);
  try {
    await assertApiError(apiGet(configFor(port), '/api/v1/requests'), 'IPWATCH_API_REFUSED', /^short and stout \uFFFD\[31m$/, 2);
    await assertApiError(apiGet(configFor(port), '/api/v1/requests'), 'IPWATCH_API_REFUSED', /answered 502/, 2);
  } finally {
    server.close();
  }
});

test('an api of before v1 (its 404 names only unversioned endpoints) is said to be older than the CLI; an unknown v1 path is the api\'s own 404', async () => {
  const old = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no such API endpoint: try GET /api/requests, /api/blocks or /api/status', code: 'IPWATCH_NO_SUCH_ENDPOINT' }));
  });
  const oldPort = await listen(old);
  try {
    await assertApiError(apiGet(configFor(oldPort), '/api/v1/requests'), 'IPWATCH_NO_SUCH_ENDPOINT', /does not serve \/api\/v1 \(it is older than this CLI\): restart ipwatch .* It said: no such API endpoint/, 2);
  } finally {
    old.close();
  }
  const server = createApiApp({ analytics: await testAnalytics(), token: null }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await assertApiError(apiGet(configFor((server.address() as AddressInfo).port), '/api/v1/nothing'), 'IPWATCH_NO_SUCH_ENDPOINT', /^no such API endpoint: under \/api\/v1\/ the api serves/, 2);
  } finally {
    server.close();
  }
});

test('the CLI calls API v1 only: an unversioned path is refused before any request', async () => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const port = await listen(server);
  try {
    await assert.rejects(apiGet(configFor(port), '/api/requests'), (err: unknown) => err instanceof IpwatchError && err.code === 'IPWATCH_INTERNAL' && /outside \/api\/v1/.test(err.message));
    await apiGet(configFor(port), '/api/v1/requests');
  } finally {
    server.close();
  }
  assert.equal(requests, 1);
});

test('nothing listening is IPWATCH_API_UNREACHABLE, naming the address', async () => {
  const server = createServer();
  const port = await listen(server);
  server.close();
  await once(server, 'close');
  await assert.rejects(apiGet(configFor(port), '/api/v1/requests'), (err: unknown) => {
    assert.ok(err instanceof ApiUnreachable);
    assert.equal(err.code, 'IPWATCH_API_UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} does not answer`));
    return true;
  });
});
