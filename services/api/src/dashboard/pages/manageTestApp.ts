/**
 * For the tests of the pages that act: the api with its dashboard, the lists and the rules on
 * the in-process event log and chDB, on a free loopback port (closed when the test ends), and
 * a same-origin form post as a browser sends it.
 */
import type { EventLog } from '@ipwatch/core/eventLog';
import type { Analytics } from '@ipwatch/store';
import type { ListsView } from '../../listsView.ts';
import type { RulesState } from '../../rulesApi.ts';
import { startMemoryApi } from '../../../../../test/support/rulesApi.ts';

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
  const { base, analytics, log, view, rules, warnings } = await startMemoryApi({ dashboard: true });
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
