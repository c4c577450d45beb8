/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerRateLimits(router: Router, _deps: DashboardDeps): void {
  router.get('/rate-limits', (_req, res) => sendPage(res, { title: 'RateLimits', active: 'none', body: html`<p>Not built yet.</p>` }));
}
