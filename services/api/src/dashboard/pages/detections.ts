/** Placeholder: being built (the dashboard issue). */
import type { Router } from 'express';
import type { DashboardDeps } from '../router.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';

export function registerDetections(router: Router, _deps: DashboardDeps): void {
  router.get('/detections', (_req, res) => sendPage(res, { title: 'Detections', active: 'none', body: html`<p>Not built yet.</p>` }));
}
