/**
 * The frame every dashboard page shares: the head (the project's own CSS and scripts, no
 * inline script or style, as the Content Security Policy requires), the navigation, who is
 * signed in (or the notice that nobody needs to be), and the page's own body.
 */
import type { Response } from 'express';
import { html, type Html } from './html.ts';
import { viewerOf } from './access.ts';

export type NavKey = 'overview' | 'requests' | 'detections' | 'blocks' | 'allowlist' | 'rate-limits' | 'rules' | 'sql' | 'privacy' | 'client' | 'none';

const NAV: Array<[NavKey, string, string]> = [
  ['overview', '/', 'Overview'],
  ['requests', '/requests', 'Requests'],
  ['detections', '/detections', 'Detections'],
  ['blocks', '/blocks', 'Blocks'],
  ['allowlist', '/allowlist', 'Allowlist'],
  ['rate-limits', '/rate-limits', 'Rate limits'],
  ['rules', '/rules', 'Rules'],
  ['sql', '/sql', 'SQL'],
  ['privacy', '/privacy', 'Privacy'],
];

export interface PageOptions {
  /** The page's title (escaped; may hold attacker text such as a path). */
  title: string;
  active: NavKey;
  body: Html;
  /** Reload every N seconds (the overview's live mode). */
  refreshSeconds?: number;
  /** A message after an action ("blocked 203.0.113.7 until ..."), shown once at the top. */
  flash?: { kind: 'ok' | 'error'; text: string } | null;
}

/** Sends a whole page (status 200 unless given). */
export function sendPage(res: Response, options: PageOptions, status = 200): void {
  res.status(status).type('html').send(page(res, options).toString());
}

export function page(res: Response, options: PageOptions): Html {
  const viewer = viewerOf(res);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowScriptTags": false, "allowEval": false}'>
<title>${options.title} · ipwatch</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
<link rel="stylesheet" href="/assets/overview.css">
<link rel="stylesheet" href="/assets/log.css">
<link rel="stylesheet" href="/assets/manage.css">
<link rel="stylesheet" href="/assets/sql.css">
<script src="/assets/htmx.min.js" defer></script>
<script src="/assets/uPlot.iife.min.js" defer></script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body${options.refreshSeconds ? html` data-refresh="${options.refreshSeconds}"` : ''}>
<header class="top">
  <a class="brand" href="/">ipwatch</a>
  <nav>${NAV.map(([key, path, label]) => html`<a href="${path}"${key === options.active ? html` class="active" aria-current="page"` : ''}>${label}</a>`)}</nav>
  <div class="who">${
    viewer.open
      ? html`<span class="open">no sign-in</span>`
      : html`signed in as <b>${viewer.caller.name}</b> <form method="post" action="/logout" class="inline"><button type="submit">Sign out</button></form>`
  }</div>
</header>
${viewer.open ? html`<p class="banner">No sign-in is configured (IPWATCH_API_TOKEN is not set): this dashboard is open to anyone on this machine, and answers only on 127.0.0.1. Set IPWATCH_API_TOKEN to require a sign-in.</p>` : ''}
${options.flash ? html`<p class="flash ${options.flash.kind}" role="status">${options.flash.text}</p>` : ''}
<main>
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>`;
}

/** A page for a refusal or a failure, in the frame when there is a viewer, bare otherwise. */
export function errorPage(message: string, code: string): Html {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ipwatch: ${code}</title><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><main><h1>Refused</h1><p class="flash error">${message}</p><p><a href="/">Back to the overview</a></p></main></body></html>`;
}
