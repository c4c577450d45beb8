/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerRules(router: Router, _deps: DashboardDeps): void {
  router.get('/rules', (_req, res) => sendPage(res, { title: 'Rules', active: 'none', body: html`<p>Not built yet.</p>` }));
}
