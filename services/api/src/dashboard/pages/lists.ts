/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerLists(router: Router, _deps: DashboardDeps): void {
  router.get('/blocks', (_req, res) => sendPage(res, { title: 'Lists', active: 'none', body: html`<p>Not built yet.</p>` }));
}
