/**
 * The privacy page (`GET /privacy`): export or erase everything stored about an address, a
 * range or a user id, the audit log of exports and erasures, and the erasures stopped half-way
 * with a button finishing each. The erase flow: `POST /privacy/erase` shows what will go (the
 * counts of an export) and asks; `POST /privacy/erase/confirmed` erases and shows the report:
 * rows removed per table, rollup buckets rebuilt, what Redis and the caches forgot, and what
 * could not be removed now, until when, with a button lifting a block still in force.
 * `POST /privacy/export` downloads the export (JSON, or CSV with `format=csv`).
 *
 * Everything runs on the api's privacy service (privacy/service.ts) in this process, as the
 * signed-in operator (the audit log's "who"). Every form posts the session's token (checked by
 * `checkCsrf`, on top of the Fetch-metadata guard of every post) and its subject in the body,
 * never in a URL: the dashboard's own requests are logged, paths and query strings included.
 */
import type { Request, Response, Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import { parseSubject, subjectCovers } from '@ipwatch/core/dataSubject';
import { exportToCsv } from '@ipwatch/store';
import type { PrivacyRequest, PrivacyService } from '../../privacy/service.ts';
import { readQuery } from '../../queryParameters.ts';
import type { DashboardDeps } from '../router.ts';
import { checkCsrf, viewerOf } from '../access.ts';
import { html } from '../html.ts';
import { sendPage, type PageOptions } from '../layout.ts';
import { field, refusal } from './manageForms.ts';
import { auditTable, confirmBody, pendingTable, resultBody, subjectFormHtml, type Covering, type SubjectForm } from './privacyView.ts';

export const NO_PRIVACY = 'This api runs without the privacy service, so it cannot export or erase: use the api of `ipwatch dev` or `ipwatch run api`.';
/** Longer than any user id taken (MAX_USER_LENGTH, 512) or any address. */
const MAX_SUBJECT = 600;
/** Audit entries shown (newest first); `ipwatch privacy audit` and the api list more. */
const AUDIT_SHOWN = 100;

/** The subject form as posted: refused with a message when empty or too long (the service judges the rest). */
function formOf(req: Request): SubjectForm {
  const kind = field(req, 'kind') === 'user' ? 'user' : 'ip';
  const subject = field(req, 'subject');
  const form: SubjectForm = { kind, subject: subject.slice(0, MAX_SUBJECT), force: field(req, 'force') === '1' };
  if (subject.trim() === '') throw new FormError(form, new IpwatchError('IPWATCH_USAGE', 'say whom it is about: an address (203.0.113.7), a range (203.0.113.0/24) or a user id'));
  if (subject.length > MAX_SUBJECT) throw new FormError(form, new IpwatchError('IPWATCH_USAGE', `the subject is ${subject.length} characters: an address, a range or a user id has at most ${MAX_SUBJECT}`));
  return form;
}

function requestOf(form: SubjectForm): PrivacyRequest {
  return form.kind === 'user' ? { user: form.subject, force: form.force } : { ip: form.subject, force: form.force };
}

/** A refusal on the page's form, with what was typed kept. */
class FormError extends Error {
  constructor(
    readonly form: SubjectForm | null,
    readonly reason: unknown,
  ) {
    super('refused');
  }
}

/** The service's message, said for this page where it names the CLI's flag. */
function flashOf(err: unknown): { flash: NonNullable<PageOptions['flash']>; status: number } {
  const bad = refusal(err);
  if ((err as { code?: string }).code === 'IPWATCH_ERASE_TOO_WIDE') {
    return { status: bad.status, flash: { kind: 'error', text: `${bad.flash.text}. On this page: tick "I mean it" beside the range and submit again.` } };
  }
  return bad;
}

/** List entries in force that cover the subject (an address or range): they stay after an erasure. */
function coveringEntries(deps: DashboardDeps, kind: string, subject: string): Covering[] {
  if (!deps.lists || kind === 'user') return [];
  const s = parseSubject({ ip: subject }, undefined, true);
  const now = deps.now();
  const out: Covering[] = [];
  for (const list of ['blocks', 'allow'] as const) {
    for (const entry of deps.lists.view.all(list)) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) continue;
      // As the service does: the entry's address in the subject, or the subject's address in the entry's range.
      if (subjectCovers(s, entry.target) || (entry.target.includes('/') && subjectCovers(s, entry.target.split('/')[0]!))) out.push({ list, entry });
    }
  }
  return out;
}

async function renderPage(res: Response, deps: DashboardDeps, form: SubjectForm | null, flash: PageOptions['flash'], status = 200): Promise<void> {
  const privacy = deps.privacy;
  if (!privacy) return sendPage(res, { title: 'Privacy', active: 'privacy', body: html`<p class="flash error">${NO_PRIVACY}</p>`, flash }, status === 200 ? 503 : status);
  const csrf = viewerOf(res).csrf;
  const [audit, pending] = await Promise.all([privacy.audit({ limit: AUDIT_SHOWN, action: ['export', 'erase'] }), privacy.pending()]);
  const body = html`<p>Everything ipwatch stores about a person, found by their address, a range of addresses or their user id: every table (requests, detections, rate-limit refusals, block history, alerts sent), what Redis and the caches hold. An export is a file to hand to them; an erasure removes it and says what stays and until when. Both are recorded in the audit log below, which keeps no address and no user id.</p>
<h2>Export or erase</h2>
${subjectFormHtml(csrf, form)}
<h2>Erasures stopped half-way</h2>
${pendingTable(pending, csrf)}
<h2>Audit log <span class="muted">(the latest ${AUDIT_SHOWN} exports and erasures)</span></h2>
${auditTable(audit)}`;
  sendPage(res, { title: 'Privacy', active: 'privacy', body, flash }, status);
}

/** Runs an action of a posted form; a refusal is the privacy page again with the message and the form as typed. */
async function acting(req: Request, res: Response, deps: DashboardDeps, act: (privacy: PrivacyService, form: SubjectForm, actor: string) => Promise<void>): Promise<void> {
  // Before anything else: a post without the session's token is refused outright (a page of its own, 403).
  checkCsrf(req, res);
  if (!deps.privacy) return renderPage(res, deps, null, null);
  let form: SubjectForm | null = null;
  try {
    form = formOf(req);
    await act(deps.privacy, form, viewerOf(res).caller.name);
  } catch (err) {
    const cause = err instanceof FormError ? err.reason : err;
    const bad = flashOf(cause);
    return renderPage(res, deps, err instanceof FormError ? err.form : form, bad.flash, bad.status);
  }
}

export function registerPrivacy(router: Router, deps: DashboardDeps): void {
  router.get('/privacy', async (req, res) => {
    try {
      readQuery(req.query, [], 'the privacy page');
    } catch (err) {
      const bad = refusal(err);
      return renderPage(res, deps, null, bad.flash, bad.status);
    }
    await renderPage(res, deps, null, null);
  });

  router.post('/privacy/export', (req, res) =>
    acting(req, res, deps, async (privacy, form, actor) => {
      const e = await privacy.export(requestOf(form), actor);
      const csv = field(req, 'format') === 'csv';
      // Named by its audit entry as the api names it, never by whom (a user id is anything the app reported).
      res.set('Content-Disposition', `attachment; filename="ipwatch-export-${e.auditId}.${csv ? 'csv' : 'json'}"`);
      if (csv) res.type('text/csv; charset=utf-8').send(exportToCsv(e));
      else res.type('application/json; charset=utf-8').send(`${JSON.stringify(e, null, 2)}\n`);
    }),
  );

  router.post('/privacy/erase', (req, res) =>
    acting(req, res, deps, async (privacy, form, actor) => {
      // Counted, not exported: the confirmation reads no rows out and records nothing.
      const p = await privacy.preview(requestOf(form));
      const covering = coveringEntries(deps, p.subjectKind, p.subject);
      sendPage(res, { title: `Erase ${form.kind === 'user' ? `user ${p.subject}` : p.subject}?`, active: 'privacy', body: confirmBody(viewerOf(res).csrf, form, p, covering, deps.now()) });
    }),
  );

  router.post('/privacy/erase/confirmed', (req, res) =>
    acting(req, res, deps, async (privacy, form, actor) => {
      const r = await privacy.erase(requestOf(form), actor);
      const covering = coveringEntries(deps, r.subjectKind, r.subject);
      const who = r.subjectKind === 'user' ? `user ${r.subject}` : r.subject;
      sendPage(res, { title: r.nothingFound ? `Nothing is stored about ${who}` : `Erased ${who}`, active: 'privacy', body: resultBody(r, covering, deps.now()) });
    }),
  );
}
