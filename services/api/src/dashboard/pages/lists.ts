/**
 * The blocks page (`GET /blocks`) and the allowlist page (`GET /allowlist`): the entries in
 * force (or, with ?expired=1, the expired ones too) with the time left, why and by whom, a
 * form to add one and a button to remove each, through the same list changes as the JSON
 * API; the blocks page also shows the audit trail (block_events, the latest 100). Every
 * target links to its client page.
 */
import type { Request, Response, Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { FilterError } from '@ipwatch/store';
import type { ListRecord } from '@ipwatch/core/decisions';
import { readQuery } from '../../queryParameters.ts';
import type { DashboardDeps } from '../router.ts';
import { viewerOf } from '../access.ts';
import { html, href, type Html } from '../html.ts';
import { sendPage, type PageOptions } from '../layout.ts';
import { ruleHref } from '../links.ts';
import { doneFlash, expiryInputs, expiryOf, field, NO_LISTS, refusal, severityInput, targetHref, timeLeft, when } from './manageForms.ts';

/** Most entries a page lists (a list can hold an import of 100,000): the rest are counted. */
const MAX_SHOWN = 500;

type ListPage = 'blocks' | 'allowlist';
const LIST_OF: Record<ListPage, 'blocks' | 'allow'> = { blocks: 'blocks', allowlist: 'allow' };

function targetLink(target: string): Html {
  return html`<a class="addr" href="${targetHref(target)}">${target}</a>`;
}

function entriesTable(page: ListPage, entries: ListRecord[], now: number, canChange: boolean, showExpired: boolean): Html {
  if (entries.length === 0) return html`<p class="muted">${page === 'blocks' ? 'Nothing is blocked' : 'Nothing is allowlisted'}${showExpired ? '' : ' now'}.</p>`;
  const shown = entries.slice(0, MAX_SHOWN);
  return html`<table class="entries"><tr><th>target</th><th>time left</th><th>expires</th><th>reason</th><th>by</th>${page === 'blocks' ? html`<th>source</th><th>severity</th>` : ''}<th>since</th><th></th></tr>
${shown.map((e) => {
    const source = 'source' in e ? e.source : null;
    const severity = 'severity' in e ? e.severity : null;
    const expired = e.expiresAt !== null && e.expiresAt <= now;
    return html`<tr${expired ? html` class="expired"` : ''}><td>${targetLink(e.target)}</td><td class="num">${timeLeft(e.expiresAt, now)}</td><td class="addr">${when(e.expiresAt)}</td><td class="text">${e.reason}</td><td>${e.createdBy}</td>${
      page === 'blocks' ? html`<td>${source !== null && source !== 'manual' && source !== 'import' ? html`<a href="${ruleHref(source)}">${source}</a>` : source}</td><td class="sev-${severity ?? ''}">${severity}</td>` : ''
    }<td class="addr">${when(e.createdAt)}</td><td>${
      canChange ? html`<form method="post" action="/${page}/remove" class="inline"><input type="hidden" name="target" value="${e.target}"><button type="submit"${page === 'blocks' ? html` class="primary"` : ''}>${page === 'blocks' ? 'Unblock' : 'Remove'}</button></form>` : ''
    }</td></tr>`;
  })}</table>${entries.length > MAX_SHOWN ? html`<p class="muted">The ${MAX_SHOWN} newest of ${entries.length} entries are shown; \`ipwatch blocks\` lists them all.</p>` : ''}`;
}

function addForm(page: ListPage): Html {
  return html`<h2>${page === 'blocks' ? 'Block an address or a range' : 'Allowlist an address or a range'}</h2>
<form method="post" action="/${page}/add" class="action-form">
<label>Target (IP or CIDR) <input name="target" required maxlength="64" placeholder="203.0.113.7 or 203.0.113.0/24"></label>
<label>Reason <input name="reason" maxlength="500"></label>${expiryInputs(page)}${page === 'blocks' ? severityInput() : ''}
<label class="force"><span>${page === 'blocks' ? 'a wide range or private addresses' : 'wider than /8 (IPv6 /16)'}</span><span><input type="checkbox" name="force" value="1"> I mean it</span></label>
<button type="submit"${page === 'blocks' ? html` class="danger"` : ''}>${page === 'blocks' ? 'Block' : 'Allowlist'}</button></form>`;
}

async function historyTable(deps: DashboardDeps): Promise<Html> {
  const rows = await deps.analytics.listBlockEvents({ limit: 100 });
  if (rows.length === 0) return html`<p class="muted">No change recorded yet.</p>`;
  return html`<table><tr><th>when</th><th>action</th><th>target</th><th>by</th><th>source</th><th>expires</th><th>reason</th></tr>${rows.map(
    (r) => html`<tr><td class="addr">${when(r.ts)}</td><td>${r.action}</td><td>${targetLink(r.target)}</td><td>${r.actor}${r.note ? html` <span class="muted">${r.note}</span>` : ''}</td><td>${r.source}${r.severity ? html` <span class="sev-${r.severity}">${r.severity}</span>` : ''}</td><td class="addr">${r.expires_at === null ? '' : when(r.expires_at)}</td><td class="text">${r.reason}</td></tr>`,
  )}</table>`;
}

async function render(res: Response, deps: DashboardDeps, page: ListPage, showExpired: boolean, flash: PageOptions['flash'], status = 200): Promise<void> {
  const title = page === 'blocks' ? 'Blocks' : 'Allowlist';
  if (!deps.lists) return sendPage(res, { title, active: page, body: html`<p class="flash error">${NO_LISTS}</p>`, flash }, status === 200 ? 503 : status);
  const now = deps.now();
  const all = deps.lists.view.all(LIST_OF[page]);
  const entries = all.filter((e) => showExpired || e.expiresAt === null || e.expiresAt > now).sort((a, b) => b.createdAt - a.createdAt);
  const expiredCount = all.filter((e) => e.expiresAt !== null && e.expiresAt <= now).length;
  const toggle = showExpired ? html`<a href="/${page}">Hide expired</a>` : html`<a href="${href(`/${page}`, { expired: 1 })}">Show expired (${expiredCount})</a>`;
  const body = html`<p class="muted">${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}${showExpired ? ', expired included' : ' in force'} · ${toggle}</p>
${entriesTable(page, entries, now, true, showExpired)}
${addForm(page)}
${page === 'blocks' ? html`<h2>History <span class="muted">(the latest 100 changes to either list)</span></h2>${await historyTable(deps)}` : ''}`;
  sendPage(res, { title, active: page, body, flash }, status);
}

function showExpiredOf(value: string | undefined): boolean {
  if (value === undefined || value === '0') return false;
  if (value === '1') return true;
  throw new FilterError(`expired ${JSON.stringify(value.slice(0, 20))} must be 1 (show expired entries) or 0`);
}

export function registerLists(router: Router, deps: DashboardDeps): void {
  for (const page of ['blocks', 'allowlist'] as const) {
    router.get(`/${page}`, async (req: Request, res: Response) => {
      let q: { expired?: string; done?: string };
      let showExpired: boolean;
      try {
        q = readQuery(req.query, ['expired', 'done'], `the ${page} page`);
        showExpired = showExpiredOf(q.expired);
      } catch (err) {
        const bad = refusal(err);
        return render(res, deps, page, false, bad.flash, bad.status);
      }
      await render(res, deps, page, showExpired, doneFlash(q.done));
    });

    for (const action of ['add', 'remove'] as const) {
      router.post(`/${page}/${action}`, async (req: Request, res: Response) => {
        let done: string;
        try {
          if (!deps.lists) throw new IpwatchError('IPWATCH_LISTS_UNAVAILABLE', NO_LISTS);
          const caller = viewerOf(res).caller;
          const target = field(req, 'target');
          const reason = field(req, 'reason');
          const expires = expiryOf(field(req, 'expires'), field(req, 'until'));
          const { changes } = deps.lists;
          // The guard against sweeping blocks and allowlist entries, lifted only when ticked.
          const force = field(req, 'force') === '1';
          if (page === 'blocks' && action === 'add') await changes.block({ target, reason, expires, severity: field(req, 'severity') || 'medium', force }, caller);
          else if (page === 'blocks') await changes.unblock({ target, reason }, caller);
          else if (action === 'add') await changes.allow({ target, reason, expires, force }, caller);
          else await changes.unallow({ target, reason }, caller);
          done = page === 'blocks' ? (action === 'add' ? 'blocked' : 'unblocked') : action === 'add' ? 'allowed' : 'unallowed';
        } catch (err) {
          const bad = refusal(err);
          return render(res, deps, page, false, bad.flash, bad.status);
        }
        res.redirect(303, href(`/${page}`, { done }));
      });
    }
  }
}
