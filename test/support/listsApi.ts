/**
 * An api with the block list and allowlist on the in-process event log and chDB, listening
 * on a free loopback port for the current test (closed when it ends).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { BlockScope } from '@ipwatch/core/blockTarget';
import { createApiApp } from '../../services/api/src/apiServer.ts';
import { openListsView, type ListsView } from '../../services/api/src/listsView.ts';
import { createListChanges } from '../../services/api/src/listChanges.ts';
import { testAnalytics } from './analytics.ts';
import { afterThisTest } from './afterThisTest.ts';

export interface ListsApi {
  port: number;
  base: string;
  view: ListsView;
  /** Sends JSON (or nothing) and returns the status and the parsed answer. */
  send(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> & { error?: string; code?: string } }>;
}

export async function startListsApi(options: { blockScope?: BlockScope } = {}): Promise<ListsApi> {
  const log = createMemoryEventLog();
  const view = await openListsView(log, () => {});
  await view.ready;
  const analytics = await testAnalytics();
  const changes = createListChanges({ log, view, analytics, warn: () => {}, ...(options.blockScope && { blockScope: options.blockScope }) });
  const server = createApiApp({ analytics, token: null, lists: { view, changes } }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await log.close();
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    view,
    async send(method, path, body) {
      const res = await fetch(`${base}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
      return { status: res.status, body: (await res.json()) as never };
    },
  };
}
