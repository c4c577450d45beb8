/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerRequests(router: Router, _deps: DashboardDeps): void {
  router.get('/requests', (_req, res) => sendPage(res, { title: 'Requests', active: 'none', body: html`<p>Not built yet.</p>` }));
}
