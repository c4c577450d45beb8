/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerClient(router: Router, _deps: DashboardDeps): void {
  router.get('/clients/:client', (_req, res) => sendPage(res, { title: 'Client', active: 'none', body: html`<p>Not built yet.</p>` }));
}
