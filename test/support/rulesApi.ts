/**
 * An api with the detection rules (and the lists) on the in-process event log and chDB,
 * listening on a free loopback port for the current test (closed when it ends).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import type { Analytics } from '@ipwatch/store';
import { createApiApp } from '../../services/api/src/apiServer.ts';
import { openListsView, type ListsView } from '../../services/api/src/listsView.ts';
import { createListChanges } from '../../services/api/src/listChanges.ts';
import { openRulesState, type RulesState } from '../../services/api/src/rulesApi.ts';
import { testAnalytics } from './analytics.ts';
import { afterThisTest } from './afterThisTest.ts';

export interface RulesApi {
  port: number;
  base: string;
  log: EventLog;
  rules: RulesState;
  warnings: string[];
  /** Sends JSON (or nothing), with the api's token unless `token` says otherwise, and returns the status and the parsed answer. */
  send(method: string, path: string, body?: unknown, options?: { token?: string | null; type?: string }): Promise<{ status: number; body: Record<string, unknown> & { error?: string; code?: string } }>;
}

/** The api on the in-process event log and chDB (lists, rules, optionally the dashboard), on a free loopback port, closed when the test ends. */
export interface MemoryApi {
  port: number;
  base: string;
  log: EventLog;
  analytics: Analytics;
  view: ListsView;
  rules: RulesState;
  warnings: string[];
}

export async function startMemoryApi(options: { token?: string; confirmTimeoutMs?: number; dashboard?: boolean } = {}): Promise<MemoryApi> {
  const log = createMemoryEventLog();
  const warnings: string[] = [];
  const warn = (message: string) => void warnings.push(message);
  const view = await openListsView(log, warn);
  await view.ready;
  const rules = openRulesState({ log, warn });
  await rules.book.ready;
  const analytics = await testAnalytics();
  const changes = createListChanges({ log, view, analytics, warn });
  const server = createApiApp({
    analytics,
    token: options.token ?? null,
    lists: { view, changes },
    rules: { rules, log, warn, ...(options.confirmTimeoutMs !== undefined && { confirmTimeoutMs: options.confirmTimeoutMs }) },
    ...(options.dashboard && { dashboard: { access: { token: options.token ?? null }, warn, log } }),
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await rules.stop();
    await log.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { port, base: `http://127.0.0.1:${port}`, log, analytics, view, rules, warnings };
}

export async function startRulesApi(options: { token?: string; confirmTimeoutMs?: number } = {}): Promise<RulesApi> {
  const { port, base, log, rules, warnings } = await startMemoryApi(options);
  return {
    port,
    base,
    log,
    rules,
    warnings,
    async send(method, path, body, { token = options.token ?? null, type = 'application/json' } = {}) {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      if (body !== undefined) headers['content-type'] = type;
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
      return { status: res.status, body: (await res.json()) as never };
    },
  };
}
