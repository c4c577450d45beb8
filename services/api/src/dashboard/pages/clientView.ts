/**
 * The sections of a client's page, drawn from the api's client analysis (analysis.ts: the
 * store's clientAnalysis and whether a block in force covers it): the verdict and the
 * detection behind a block, traffic, where it comes from, requests over time, paths, user
 * agents, sensitive paths, logins, rate-limit refusals, detections with their evidence and
 * the block history. Every value is text through `html`, and links to the request log.
 */
import type { AnalysisAnswer, CoveringEntry } from '../../analysis.ts';
import type { DetectionRow } from '@ipwatch/store';
import { html, dataJson, type Html } from '../html.ts';
import { detectionsHref, logHref, ruleHref, withFilter, type LogFilterName, type LogQuery } from '../links.ts';
import { targetHref, timeLeft, when } from './manageForms.ts';

const pct = (n: number | null) => (n === null ? '–' : `${(n * 100).toFixed(1)}%`);

/** A value linked to the log filtered by it, with a small link excluding it. */
function filterLink(base: LogQuery, name: LogFilterName, value: string | number, text: string | number = value): Html {
  return html`<a href="${withFilter(base, name, value)}">${text}</a><a class="x" href="${withFilter(base, name, value, true)}" title="exclude">not</a>`;
}

function evidenceBlock(d: DetectionRow): Html {
  const lines = Object.entries(d.evidence).map(([k, v]) => `${k}: ${v}`);
  return html`<details><summary><a href="${ruleHref(d.rule)}">${d.rule}</a> · <span class="sev-${d.severity}">${d.severity}</span> · ${d.action}${d.mode === 'dry_run' ? ' (dry run)' : ''} · ${d.count} &gt; ${d.threshold} · ${when(d.ts)}</summary>
<pre class="evidence">${lines.join('\n')}</pre></details>`;
}

function coveringLine(e: CoveringEntry, now: number): Html {
  const who = e.by === 'rule' ? html`rule <a href="${ruleHref(e.source ?? '')}">${e.source}</a>` : html`${e.createdBy}${e.source && e.source !== 'manual' ? ` (${e.source})` : ''}`;
  return html`<li><a class="addr" href="${targetHref(e.target)}">${e.target}</a> until ${e.until === null ? 'never expires' : html`${when(e.until)} (${timeLeft(e.until, now)} left)`}, by ${who}${e.severity ? html`, <span class="sev-${e.severity}">${e.severity}</span>` : ''}${e.reason ? html`: <q>${e.reason}</q>` : ''}${e.evidence ? evidenceBlock(e.evidence) : ''}</li>`;
}

/** BLOCKED until ... by ..., ALLOWLISTED, or not blocked; unknown without the lists. */
export function verdict(a: AnalysisAnswer, now: number): Html {
  const b = a.blockedNow;
  if (b === null) return html`<p class="verdict unknown">Whether it is blocked is unknown: this api runs without the event log.</p>`;
  if (b.allowlisted.length) {
    return html`<div class="verdict allowed"><p><b>ALLOWLISTED</b>${b.blocks.length ? ` (${b.blocks.length} block(s) cover it but do not apply while it is allowlisted)` : ''}</p><ul>${b.allowlisted.map((e) => coveringLine(e, now))}</ul>
${b.blocks.length ? html`<p>Blocks that would apply:</p><ul>${b.blocks.map((e) => coveringLine(e, now))}</ul>` : ''}</div>`;
  }
  if (b.blocked) {
    const first = b.blocks[0] as CoveringEntry;
    const by = first.by === 'rule' ? `rule ${first.source ?? ''}` : first.createdBy;
    return html`<div class="verdict blocked"><p><b>BLOCKED</b> until ${first.until === null ? 'it is unblocked (no expiry)' : when(first.until)} by ${by}</p><ul>${b.blocks.map((e) => coveringLine(e, now))}</ul></div>`;
  }
  return html`<p class="verdict clear">Not blocked, not allowlisted.</p>`;
}

function trafficCards(a: AnalysisAnswer, base: LogQuery): Html {
  const t = a.traffic;
  return html`<div class="cards">
<div class="card"><div class="label">requests</div><div class="value"><a href="${logHref(base)}">${t.requests}</a></div>${a.scope.kind === 'network/64' ? html`<div class="change">${t.requestsFromAddress} from ${a.ip}, ${t.addresses} address(es)</div>` : ''}</div>
<div class="card"><div class="label">error rate</div><div class="value">${pct(t.errorRate)}</div><div class="change">${t.errors} 4xx/5xx</div></div>
<div class="card"><div class="label">blocked (403)</div><div class="value"><a href="${logHref({ ...base, blocked: 'true' })}">${t.blocked}</a></div></div>
<div class="card"><div class="label">rate limited (429)</div><div class="value"><a href="${logHref({ ...base, limited: 'true' })}">${t.rateLimited}</a></div></div>
<div class="card"><div class="label">first / last seen</div><div class="change">${t.firstSeen === null ? '–' : when(t.firstSeen)}<br>${t.lastSeen === null ? '–' : when(t.lastSeen)}</div></div>
</div>
<p class="muted">Status classes: ${Object.entries(t.statusClasses).map(([c, n]) => html`${filterLink(base, 'status', c, `${c} ${n}`)} `)}</p>`;
}

function geoSection(a: AnalysisAnswer, base: LogQuery): Html {
  const g = a.geo;
  if (!g) return html`<p class="muted">No geolocation: none of its requests carried one.</p>`;
  return html`<p>${g.country ? filterLink(base, 'country', g.country) : 'unknown country'}${g.region ? `, ${g.region}` : ''}${g.city ? `, ${g.city}` : ''} · network ${g.asn ? filterLink(base, 'asn', g.asn, `AS${g.asn}`) : 'unknown'} ${g.org} <span class="muted">(as of ${when(g.seenAt)})</span></p>`;
}

function hoursChart(a: AnalysisAnswer): Html {
  const spec = { x: a.hourly.map((h) => Math.floor(h.hour / 1000)), series: [{ label: 'requests', values: a.hourly.map((h) => h.requests) }, { label: 'errors', values: a.hourly.map((h) => h.errors) }] };
  const rows = a.hourly.filter((h) => h.requests > 0);
  return html`<div class="chart" data-chart="${dataJson(spec)}"><table class="compact"><tr><th>hour (UTC)</th><th class="num">requests</th><th class="num">errors</th></tr>${rows.map((h) => html`<tr><td>${when(h.hour)}</td><td class="num">${h.requests}</td><td class="num">${h.errors}</td></tr>`)}</table></div>`;
}

function tables(a: AnalysisAnswer, base: LogQuery): Html {
  const max = Math.max(1, ...a.topPaths.map((p) => p.requests));
  return html`<div class="grid2">
<section><h2>Top paths</h2>${a.topPaths.length === 0 ? html`<p class="muted">none</p>` : html`<table><tr><th>path</th><th class="num">requests</th><th class="num">errors</th><th></th></tr>${a.topPaths.map(
    (p) => html`<tr><td class="text">${filterLink(base, 'path', p.path)}</td><td class="num">${p.requests}</td><td class="num">${p.errors}</td><td><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none"><rect class="fill" width="${((p.requests / max) * 100).toFixed(1)}" height="10"></rect></svg></td></tr>`,
  )}</table>`}</section>
<section><h2>User agents</h2>${a.userAgents.length === 0 ? html`<p class="muted">none</p>` : html`<table><tr><th>user agent</th><th class="num">requests</th></tr>${a.userAgents.map((u) => html`<tr><td class="text">${filterLink(base, 'ua', u.userAgent, u.userAgent || '(none)')}</td><td class="num">${u.requests}</td></tr>`)}</table>`}</section>
<section><h2>Sensitive paths</h2>${
    a.sensitivePaths.paths.length === 0
      ? html`<p class="muted">None matched${a.sensitivePaths.truncated ? ` (of the ${a.sensitivePaths.pathsExamined} paths examined)` : ''}.</p>`
      : html`<p>${a.sensitivePaths.requests} request(s) matched ${a.sensitivePaths.byRule.map((r) => html`<a href="${ruleHref(r.rule)}">${r.rule}</a> (${r.requests}) `)}</p><table><tr><th>path</th><th class="num">requests</th><th>rules</th></tr>${a.sensitivePaths.paths.map((p) => html`<tr><td class="text">${filterLink(base, 'path', p.path)}</td><td class="num">${p.requests}</td><td>${p.rules.join(', ')}</td></tr>`)}</table>`
  }</section>
<section><h2>Logins</h2><p>${a.logins.failed} failed, ${a.logins.succeeded} succeeded, ${a.logins.distinctUsernames} distinct username(s) tried.</p>${
    a.logins.usernames.length ? html`<table><tr><th>username</th><th class="num">failed</th></tr>${a.logins.usernames.map((u) => html`<tr><td class="text">${filterLink(base, 'user', u.username)}</td><td class="num">${u.failed}</td></tr>`)}</table>` : ''
  }</section>
<section><h2>Rate-limit refusals</h2>${
    a.rateLimits.byRule.length === 0
      ? html`<p class="muted">none</p>`
      : html`<p>${a.rateLimits.refusals} request(s) refused in ${a.rateLimits.events} event(s).</p><table><tr><th>limit</th><th class="num">refusals</th><th class="num">limit</th><th>first</th><th>last</th></tr>${a.rateLimits.byRule.map(
          (r) => html`<tr><td>${r.rule}</td><td class="num">${r.refusals}</td><td class="num">${r.limit} / ${Math.round(r.windowMs / 1000)} s</td><td class="addr">${when(r.first)}</td><td class="addr">${when(r.last)}</td></tr>`,
        )}</table>`
  }</section>
</div>`;
}

function history(a: AnalysisAnswer): Html {
  const rows = a.blockHistory.rows;
  if (rows.length === 0) return html`<p class="muted">No block or allowlist change concerns it.</p>`;
  return html`<table><tr><th>when</th><th>action</th><th>target</th><th>by</th><th>source</th><th>expires</th><th>reason</th></tr>${rows.map(
    (r) => html`<tr><td class="addr">${when(r.ts)}</td><td>${r.action}</td><td><a class="addr" href="${targetHref(r.target)}">${r.target}</a></td><td>${r.actor}${r.note ? html` <span class="muted">${r.note}</span>` : ''}</td><td>${r.source}${r.severity ? html` <span class="sev-${r.severity}">${r.severity}</span>` : ''}</td><td>${r.expires_at === null ? '' : when(r.expires_at)}</td><td class="text">${r.reason}</td></tr>`,
  )}</table>${a.blockHistory.truncated ? html`<p class="muted">The latest 100 changes.</p>` : ''}`;
}

/** Everything the analysis shows, below the verdict and the action forms. */
export function analysisSections(a: AnalysisAnswer): Html {
  const base: LogQuery = { ip: a.scope.client, since: new Date(a.range.since).toISOString() };
  return html`<h2>Traffic <span class="muted">(${a.scope.kind === 'network/64' ? `every address of ${a.scope.client}, ` : ''}the last ${a.range.hours} h)</span></h2>
${trafficCards(a, base)}
${geoSection(a, base)}
<h2>Requests over time</h2>
${hoursChart(a)}
${tables(a, base)}
<h2>Detections <span class="muted">(${a.detections.total} in the range)</span> <a class="x" href="${detectionsHref({ client: a.scope.client })}">all of them</a></h2>
${a.detections.rows.length === 0 ? html`<p class="muted">none</p>` : html`<div class="detections">${a.detections.rows.map(evidenceBlock)}</div>`}
<h2>Block history</h2>
${history(a)}`;
}
