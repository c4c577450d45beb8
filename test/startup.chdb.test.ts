/**
 * A start-up that fails half-way stops what had already started and exits with the reason:
 * here a port another process holds (a real listener on a free port takes it first).
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { runCli, tempDir } from './support/cli.ts';
import { afterThisTest } from './support/afterThisTest.ts';

async function takePort(): Promise<number> {
  const holder: Server = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  await once(holder, 'listening');
  afterThisTest(() => new Promise((resolve) => holder.close(resolve)));
  return (holder.address() as AddressInfo).port;
}

/** Exits within `ms` (start-up is tsx and chDB loading, a few seconds) with the message, without a stack. */
async function refusesPromptly(args: string[], vars: Record<string, string>, message: RegExp, ms = 45_000): Promise<void> {
  const started = Date.now();
  const res = await runCli(args, vars, tempDir('ipwatch-startup'), ms);
  assert.equal(res.code, 2, `ipwatch ${args.join(' ')} exits 2 (a setting to change); stderr:\n${res.stderr}`);
  assert.match(res.stderr, message);
  assert.doesNotMatch(res.stderr, /^\s+at /m, 'no stack trace');
  assert.ok(Date.now() - started < ms, `exited after ${Date.now() - started} ms`);
}

test('ipwatch run api on a taken IPWATCH_API_PORT exits promptly, saying which port and what to set', async () => {
  const port = await takePort();
  await refusesPromptly(['run', 'api'], { IPWATCH_API_PORT: String(port), IPWATCH_METRICS_PORT: '0' }, new RegExp(`the api cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use.*Set IPWATCH_API_PORT`));
}, 60_000);

test('ipwatch run enricher on a taken IPWATCH_METRICS_PORT exits promptly, saying what to set', async () => {
  const port = await takePort();
  await refusesPromptly(['run', 'enricher'], { IPWATCH_METRICS_PORT: String(port) }, new RegExp(`:${port} is already in use; set IPWATCH_METRICS_PORT`));
}, 60_000);

test('ipwatch dev with the api port taken stops the pipeline and blocksync it had started, and exits', async () => {
  const port = await takePort();
  await refusesPromptly(['dev', '--port', '0'], { IPWATCH_API_PORT: String(port), IPWATCH_METRICS_PORT: '0' }, /the api cannot listen.*Set IPWATCH_API_PORT/, 75_000);
}, 90_000);

test('ipwatch dev with the demo app port taken says to pass --port, and exits', async () => {
  const port = await takePort();
  await refusesPromptly(['dev', '--port', String(port)], { IPWATCH_API_PORT: '0', IPWATCH_METRICS_PORT: '0' }, new RegExp(`the demo app cannot listen on port ${port} .*pass --port with a free port`), 75_000);
}, 90_000);
