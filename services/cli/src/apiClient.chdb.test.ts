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
  const server = createApiApp({ analytics: await testAnalytics(), token: 'the-right-token' }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    await assertApiError(apiGet(configFor(port, 'a-wrong-token'), '/api/requests'), 'IPWATCH_BAD_TOKEN', /missing or wrong API token/, 2);
    await assertApiError(apiGet(configFor(port, 'the-right-token'), '/api/requests', { status: 'teapot' }), 'IPWATCH_BAD_FILTER', /use 404, 4xx/, 2);
    await assertApiError(apiGet(configFor(port, 'the-right-token'), '/api/blocks'), 'IPWATCH_LISTS_UNAVAILABLE', /without the event log/, 1);
  } finally {
    server.close();
  }
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
    await assertApiError(apiGet(configFor(port), '/api/requests'), 'IPWATCH_API_REFUSED', /^short and stout \uFFFD\[31m$/, 2);
    await assertApiError(apiGet(configFor(port), '/api/requests'), 'IPWATCH_API_REFUSED', /answered 502/, 2);
  } finally {
    server.close();
  }
});

test('nothing listening is IPWATCH_API_UNREACHABLE, naming the address', async () => {
  const server = createServer();
  const port = await listen(server);
  server.close();
  await once(server, 'close');
  await assert.rejects(apiGet(configFor(port), '/api/requests'), (err: unknown) => {
    assert.ok(err instanceof ApiUnreachable);
    assert.equal(err.code, 'IPWATCH_API_UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} does not answer`));
    return true;
  });
});
