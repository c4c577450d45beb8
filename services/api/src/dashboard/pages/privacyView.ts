/**
 * What the privacy pages show (pages/privacy.ts routes them): the form that exports or erases
 * by address, range or user id, the client page's two buttons, the audit log, the erasures
 * stopped half-way, the confirmation before an erasure and its report. Every subject, reason
 * and field is text through `html` (a user id can be `<script>`), and every form that acts
 * carries the session's token (`csrf`) and posts its subject in the body: the dashboard's own
 * requests are logged with their paths and query strings, and an address erased must not stay
 * behind in a URL of that log.
 */
import type { ListRecord } from '@ipwatch/core/decisions';
import type { AuditEntry, ErasureReport, PrivacyPreview, Remaining } from '@ipwatch/store';
import { html, type Html } from '../html.ts';
import { CSRF_FIELD } from '../access.ts';
import { targetHref, timeLeft, when } from './manageForms.ts';

/** What the subject form holds: an address or range, or a user id, and whether a wide range is meant. */
export interface SubjectForm {
  kind: 'ip' | 'user';
  subject: string;
  force: boolean;
}

/** The hidden fields every privacy form posts: the session's token and the subject. */
function hidden(csrf: string, form: SubjectForm): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrf}"><input type="hidden" name="kind" value="${form.kind}"><input type="hidden" name="subject" value="${form.subject}">${form.force ? html`<input type="hidden" name="force" value="1">` : ''}`;
}

/** The subject as a sentence says it: the address or range, or "user <id>". */
export function subjectText(form: Pick<SubjectForm, 'kind' | 'subject'>): Html {
  return form.kind === 'user' ? html`user <q class="subject">${form.subject}</q>` : html`<span class="addr subject">${form.subject}</span>`;
}

/** Download buttons (JSON, CSV) for a subject's export. */
function exportButtons(csrf: string, form: SubjectForm, label: Html | string): Html {
  return html`<form method="post" action="/privacy/export" class="inline">${hidden(csrf, form)}<input type="hidden" name="format" value="json"><button type="submit">${label}</button></form>
<form method="post" action="/privacy/export" class="inline">${hidden(csrf, form)}<input type="hidden" name="format" value="csv"><button type="submit" class="link">CSV</button></form>`;
}

/** The client page's section: export everything about it, or erase it (after a confirmation). */
export function clientPrivacySection(client: string, csrf: string | null): Html {
  if (csrf === null) return html`<h2>Privacy</h2><p class="muted">This api runs without the privacy service: export and erasure are not available here.</p>`;
  const form: SubjectForm = { kind: 'ip', subject: client, force: false };
  return html`<h2>Privacy</h2>
<div class="privacy-actions">${exportButtons(csrf, form, `Export everything stored about ${client}`)}
<form method="post" action="/privacy/erase" class="inline">${hidden(csrf, form)}<button type="submit" class="danger">Erase ${client}…</button></form></div>
<p class="hint">The export holds every row stored about it, in every table, with what each field means. Erasing shows what will go and asks first. Both are recorded in the <a href="/privacy">privacy audit log</a>.</p>`;
}

/** The form of the privacy page: whom, then export (JSON, CSV) or erase. */
export function subjectFormHtml(csrf: string, form: SubjectForm | null): Html {
  const f = form ?? { kind: 'ip', subject: '', force: false };
  return html`<form method="post" action="/privacy/export" class="action-form privacy-form">
<input type="hidden" name="${CSRF_FIELD}" value="${csrf}">
<label>About <select name="kind"><option value="ip"${f.kind === 'ip' ? html` selected` : ''}>an address or a range</option><option value="user"${f.kind === 'user' ? html` selected` : ''}>a user id</option></select></label>
<label>Address, range or user id <input name="subject" required maxlength="600" value="${f.subject}" placeholder="203.0.113.7, 2001:db8::/48 or alice@example.com" autocomplete="off"></label>
<label class="force"><span>a range wider than the configured maximum</span><span><input type="checkbox" name="force" value="1"${f.force ? html` checked` : ''}> I mean it</span></label>
<button type="submit" name="format" value="json">Export (JSON)</button>
<button type="submit" name="format" value="csv">Export (CSV)</button>
<button type="submit" formaction="/privacy/erase" class="danger">Erase…</button>
</form>
<p class="hint">A range wider than IPWATCH_ERASE_MAX_PREFIX_V4/_V6 (/24 and /48 by default) is refused unless "I mean it" is ticked: a typo of /8 for /28 would reach millions of people. A user id is matched exactly as the app reported it.</p>`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const sum = (rows: Record<string, number>) => Object.values(rows).reduce((n, v) => n + v, 0);

function rowsDetail(rows: Record<string, number>): string {
  return Object.entries(rows)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${t} ${n}`)
    .join(' · ');
}

/** The audit log: when, who, what, about what kind of subject, and how many rows (no address: it holds none). */
export function auditTable(entries: AuditEntry[]): Html {
  if (entries.length === 0) return html`<p class="muted">Nothing exported or erased yet.</p>`;
  return html`<table class="audit"><tr><th>when</th><th>who</th><th>action</th><th>subject</th><th>prefix</th><th>outcome</th><th class="num">rows</th><th>per table</th><th>note</th><th>entry</th></tr>${entries.map(
    (e) => html`<tr><td class="addr">${when(e.ts)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.subjectKind}</td><td class="num">${e.subjectKind === 'user' || e.subjectKind === 'sql' ? '–' : `/${e.subjectBits}`}</td><td class="outcome-${e.outcome}">${e.outcome.replace('_', ' ')}</td><td class="num">${sum(e.rows)}</td><td class="text">${rowsDetail(e.rows)}</td><td class="text">${e.note}</td><td class="addr" title="${e.id}">${e.id.slice(0, 8)}</td></tr>`,
  )}</table>`;
}

/** A journal key ("ip:203.0.113.7", "user:alice") as the form that finishes its erasure. */
export function pendingSubject(key: string): SubjectForm {
  // The range was taken when the erasure started (forced if it had to be): finishing it is not a new decision.
  return key.startsWith('user:') ? { kind: 'user', subject: key.slice(5), force: true } : { kind: 'ip', subject: key.replace(/^ip:/, ''), force: true };
}

/**
 * Erasures stopped half-way. Their subjects are shown: the journal keeps them until the erasure
 * completes (it must, to finish it), the rows about them are still stored and visible on the
 * other pages to the same signed-in operators, and finishing one needs to say whom.
 */
export function pendingTable(pending: Array<{ id: string; startedAt: number; actor: string; subject: string }>, csrf: string): Html {
  if (pending.length === 0) return html`<p class="muted">None: every erasure started has completed.</p>`;
  return html`<table class="pending"><tr><th>started</th><th>by</th><th>subject</th><th>entry</th><th></th></tr>${pending.map((p) => {
    const form = pendingSubject(p.subject);
    return html`<tr><td class="addr">${when(p.startedAt)}</td><td>${p.actor}</td><td class="text">${subjectText(form)}</td><td class="addr" title="${p.id}">${p.id.slice(0, 8)}</td><td><form method="post" action="/privacy/erase/confirmed" class="inline">${hidden(csrf, form)}<button type="submit" class="danger">Finish the erasure</button></form></td></tr>`;
  })}</table>`;
}

/** The blocks and allowlist entries in force that cover the subject, with a button lifting each (the lists pages' own forms). */
function liftButtons(entries: Array<{ list: 'blocks' | 'allow'; entry: ListRecord }>): Html {
  return html`${entries.map(({ list, entry }) =>
    list === 'blocks'
      ? html`<form method="post" action="/blocks/remove" class="inline"><input type="hidden" name="target" value="${entry.target}"><button type="submit" class="primary">Unblock ${entry.target}</button></form> `
      : html`<form method="post" action="/allowlist/remove" class="inline"><input type="hidden" name="target" value="${entry.target}"><button type="submit">Remove ${entry.target} from the allowlist</button></form> `,
  )}`;
}

export interface Covering {
  list: 'blocks' | 'allow';
  entry: ListRecord;
}

/** The confirmation before an erasure: what is stored (counted), what stays, and the button. */
export function confirmBody(csrf: string, form: SubjectForm, e: PrivacyPreview, covering: Covering[], now: number): Html {
  const held = e.held.reduce((n, h) => n + h.count, 0);
  const canonical: SubjectForm = { ...form, subject: e.subject };
  const nothing = e.total === 0 && held === 0;
  return html`${
    nothing
      ? html`<p class="verdict clear">Nothing is stored about ${subjectText(canonical)}: no table, rollup, Redis key or cache holds it. Erasing finds nothing to remove; it records the request in the audit log.</p>`
      : html`<p>These rows are about ${subjectText(canonical)} or mention it. Erasing deletes those about it from every table, clears it from those that only mention it (a username in another client's login), aggregates the rollup buckets its requests fell in again without them, and forgets what Redis and the caches hold. <b>It cannot be undone.</b></p>`
  }
<table class="counts"><tr><th>where</th><th>what it holds</th><th class="num">rows</th></tr>${e.tables.map(
    (t) => html`<tr${t.rows === 0 ? html` class="none"` : ''}><td>${t.table}</td><td class="text muted">${t.description}</td><td class="num">${t.rows}</td></tr>`,
  )}${e.held.map((h) => html`<tr${h.count === 0 ? html` class="none"` : ''}><td>${h.place}</td><td class="text muted">${h.kinds.join(', ')}</td><td class="num">${h.count}</td></tr>`)}
<tr class="total"><td>in all</td><td></td><td class="num">${e.total + held}</td></tr></table>
${
  covering.length
    ? html`<div class="verdict blocked"><p>These list entries cover it and stay after the erasure (a block in force is kept under your legitimate interest in defending the site): lift them if they are no longer needed.</p><ul>${covering.map(
        (c) => html`<li><a class="addr" href="${targetHref(c.entry.target)}">${c.entry.target}</a> (${c.list === 'blocks' ? 'blocked' : 'allowlisted'}${c.entry.reason ? html`: <q>${c.entry.reason}</q>` : ''}), ${c.entry.expiresAt === null ? 'no expiry' : `${timeLeft(c.entry.expiresAt, now)} left`} ${liftButtons([c])}</li>`,
      )}</ul></div>`
    : ''
}
<div class="privacy-actions">
<form method="post" action="/privacy/erase/confirmed" class="inline">${hidden(csrf, canonical)}<button type="submit" class="danger">Erase ${canonical.kind === 'user' ? `user ${canonical.subject}` : canonical.subject} now</button></form>
${exportButtons(csrf, canonical, 'Download the export first (JSON)')}
<a class="button" href="/privacy">Cancel</a></div>`;
}

function removedTable(r: ErasureReport): Html {
  const tables = [...new Set([...Object.keys(r.removed), ...Object.keys(r.scrubbed)])];
  return html`<table class="counts"><tr><th>table</th><th class="num">rows removed</th><th class="num">rows kept, the subject cleared from them</th></tr>${tables.map(
    (t) => html`<tr${(r.removed[t] ?? 0) + (r.scrubbed[t] ?? 0) === 0 ? html` class="none"` : ''}><td>${t}</td><td class="num">${r.removed[t] ?? 0}</td><td class="num">${r.scrubbed[t] ?? 0}</td></tr>`,
  )}</table>`;
}

function remainingTable(items: Remaining[], covering: Covering[], now: number): Html {
  if (items.length === 0) return html`<p class="muted">Nothing: it is gone everywhere.</p>`;
  // The service names the list entry an item is: the buttons go on that line.
  const lift = (r: Remaining) => covering.filter((c) => r.entry !== undefined && c.list === r.entry.list && c.entry.target === r.entry.target);
  return html`<table class="remaining"><tr><th>where</th><th>what</th><th>until</th><th>what to do</th></tr>${items.map(
    (r) => html`<tr><td>${r.place}</td><td class="text">${r.what}</td><td class="addr">${r.until === null ? html`until someone acts` : html`${when(r.until)}<br><span class="muted">${timeLeft(r.until, now)} left</span>`}</td><td class="text">${r.action ?? ''}${lift(r).length ? html`<div class="lift">${liftButtons(lift(r))}</div>` : ''}</td></tr>`,
  )}</table>`;
}

/** An erasure's report: rows removed per table, rollups rebuilt, entries forgotten, and what stays and until when. */
export function resultBody(r: ErasureReport, covering: Covering[], now: number): Html {
  const form: SubjectForm = { kind: r.subjectKind === 'user' ? 'user' : 'ip', subject: r.subject, force: false };
  const audit = html`<p class="muted">Audit log entry <span class="addr">${r.auditId}</span>: file it with the request.</p>`;
  const stays = html`<h2 id="remaining">What could not be removed now</h2>${remainingTable(r.remaining, covering, now)}`;
  if (r.nothingFound) {
    return html`<p class="verdict clear">Nothing is stored about ${subjectText(form)}: no table, rollup, Redis key or cache held it, so nothing was removed.</p>
${audit}${stays}`;
  }
  const removed = sum(r.removed);
  const scrubbed = sum(r.scrubbed);
  const rebuilt = r.rebuilt.minutes + r.rebuilt.fiveMinutes + r.rebuilt.hours;
  return html`<p class="verdict allowed">Everything ipwatch stored about ${subjectText(form)} is gone, but for what is listed under <a href="#remaining">What could not be removed now</a>.${r.resumed ? ' This run finished an erasure that had stopped half-way: the rows the first run deleted are counted in its entry of the audit log.' : ''}</p>
<div class="cards">
<div class="card"><div class="label">rows removed</div><div class="value">${removed}</div></div>
<div class="card"><div class="label">rows with the subject cleared</div><div class="value">${scrubbed}</div></div>
<div class="card"><div class="label">rollup buckets rebuilt</div><div class="value">${rebuilt}</div><div class="change">${plural(r.rebuilt.minutes, 'minute')}, ${plural(r.rebuilt.fiveMinutes, 'five-minute bucket')}, ${plural(r.rebuilt.hours, 'hour')}</div></div>
<div class="card"><div class="label">entries forgotten (Redis, caches)</div><div class="value">${sum(r.forgotten)}</div></div>
</div>
<h2>Rows removed per table</h2>
${removedTable(r)}
<h2>Forgotten outside ClickHouse</h2>
${Object.keys(r.forgotten).length === 0 ? html`<p class="muted">Nothing else held it.</p>` : html`<table class="counts"><tr><th>where</th><th class="num">entries</th></tr>${Object.entries(r.forgotten).map(([place, n]) => html`<tr><td>${place}</td><td class="num">${n}</td></tr>`)}</table>`}
${stays}
${audit}`;
}
