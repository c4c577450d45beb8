/**
 * For the tests of the pages that act: the api with its dashboard, the lists and the rules on
 * the in-process event log and chDB, on a free loopback port (closed when the test ends), and
 * a same-origin form post as a browser sends it.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import type { EventLog } from '@ipwatch/core/eventLog';
import type { Analytics } from '@ipwatch/store';
import { createApiApp } from '../../apiServer.ts';
import { openListsView, type ListsView } from '../../listsView.ts';
import { createListChanges } from '../../listChanges.ts';
import { openRulesState, type RulesState } from '../../rulesApi.ts';
import { testAnalytics } from '../../../../../test/support/analytics.ts';
import { afterThisTest } from '../../../../../test/support/afterThisTest.ts';

export interface ManageApp {
  base: string;
  analytics: Analytics;
  /** The event log the lists and rules are on (a test writes a rule's block as the scorer would). */
  log: EventLog;
  view: ListsView;
  rules: RulesState;
  warnings: string[];
  get(path: string): Promise<{ status: number; text: string }>;
  /** A form post from the dashboard's own page (Sec-Fetch-Site: same-origin); redirects are not followed. */
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<{ status: number; location: string | null; text: string }>;
}

export async function startManageApp(): Promise<ManageApp> {
  const log = createMemoryEventLog();
  const warnings: string[] = [];
  const warn = (message: string) => void warnings.push(message);
  const view = await openListsView(log, warn);
  await view.ready;
  const rules = openRulesState({ log, warn });
  await rules.book.ready;
  const analytics = await testAnalytics();
  const changes = createListChanges({ log, view, analytics, warn });
  const server = createApiApp({ analytics, token: null, lists: { view, changes }, rules: { rules, log, warn }, dashboard: { access: { token: null }, warn, log } }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  afterThisTest(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await view.stop();
    await rules.stop();
    await log.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    analytics,
    log,
    view,
    rules,
    warnings,
    async get(path) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      return { status: res.status, text: await res.text() };
    },
    async post(path, form, headers = { 'sec-fetch-site': 'same-origin' }) {
      const res = await fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
      return { status: res.status, location: res.headers.get('location'), text: await res.text() };
    },
  };
}
