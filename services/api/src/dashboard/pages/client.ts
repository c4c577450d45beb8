/**
 * A client's page, `GET /clients/:client` (an IP address, or an IPv6 /64 such as
 * 2001:db8:1:2::/64, URL-encoded): `ipwatch analyze` as a page (the api's client analysis,
 * analysis.ts, with the lists view's verdict), and the forms that act on it: block, unblock,
 * allowlist, remove from the allowlist, through the same list changes as the JSON API; at the
 * bottom, export everything stored about it or erase it (the privacy page's forms). After
 * a change the page is asked for again (303) with a fixed message; a refused change (an
 * invalid target, a range too wide) is shown on the page with the registry's message.
 */
import type { Request, Response, Router } from 'express';
import { IpwatchError, isIpwatchError } from '@ipwatch/core/errors';
import { InvalidAddressError } from '@ipwatch/core/blockTarget';
import { parseCidr, formatIp } from '@ipwatch/core/ip';
import { analyseClient, analysisAddress, analysisHours, type AnalysisAnswer } from '../../analysis.ts';
import { readQuery } from '../../queryParameters.ts';
import type { DashboardDeps } from '../router.ts';
import { viewerOf } from '../access.ts';
import { html, href, type Html } from '../html.ts';
import { sendPage, type PageOptions } from '../layout.ts';
import { clientHref } from '../links.ts';
import { analysisSections, verdict } from './clientView.ts';
import { clientPrivacySection } from './privacyView.ts';
import { doneFlash, expiryInputs, expiryOf, field, NO_LISTS, refusal, severityInput } from './manageForms.ts';

const HOURS_CHOICES = [1, 6, 24, 72, 168, 720];
const ACCEPTED = 'A client is one IP address (203.0.113.7, 2001:db8::1) or an IPv6 /64 network (2001:db8:1:2::/64), as in /clients/203.0.113.7.';

/** The client of the path: an address (canonical) or an IPv6 /64; the address the analysis reads. */
export function clientOf(text: string): { client: string; address: string; network: boolean } {
  try {
    if (!text.includes('/')) {
      const address = analysisAddress(text);
      return { client: address, address, network: false };
    }
    const cidr = parseCidr(text);
    if (cidr.version !== 6 || cidr.prefix !== 64) throw new InvalidAddressError(`${JSON.stringify(text.slice(0, 64))} is a range other than an IPv6 /64`);
    const address = formatIp({ version: 6, value: cidr.network });
    return { client: `${address}/64`, address, network: true };
  } catch (err) {
    if (isIpwatchError(err)) throw new InvalidAddressError(`${err.message}. ${ACCEPTED}`);
    throw err;
  }
}

function hoursSelector(client: string, hours: number): Html {
  return html`<form method="get" action="${clientHref(client)}" class="filters"><label>Period <select name="hours">${HOURS_CHOICES.map((h) => html`<option value="${h}"${h === hours ? html` selected` : ''}>last ${h < 48 ? `${h} h` : `${h / 24} days`}</option>`)}</select></label><button type="submit">Show</button></form>`;
}

function actionForms(deps: DashboardDeps, a: AnalysisAnswer, client: string, hours: number): Html {
  if (!deps.lists) return html`<p class="muted">${NO_LISTS}</p>`;
  const back = `${clientHref(client)}/`;
  const b = a.blockedNow;
  // An IPv6 address can be blocked alone or with its /64 (what the scorer blocks).
  const targets = a.scope.kind === 'network/64' && client !== a.scope.client ? [client, a.scope.client] : [client];
  const targetInput = targets.length > 1 ? html`<label>Target <select name="target">${targets.map((t) => html`<option value="${t}">${t}</option>`)}</select></label>` : html`<input type="hidden" name="target" value="${client}">`;
  // Every entry covering it, a range's too: lifting that range is how such a block ends.
  const listed = (list: 'blocks' | 'allow') => (b === null ? [] : list === 'blocks' ? b.blocks : b.allowlisted);
  return html`<div class="actions">
<form method="post" action="${back}block" class="action-form"><input type="hidden" name="hours" value="${hours}">${targetInput}
<label>Reason <input name="reason" maxlength="500" placeholder="why (shown in the block list and the audit trail)"></label>${expiryInputs('block')}${severityInput()}
<button type="submit" class="danger">Block</button></form>
<form method="post" action="${back}allow" class="action-form"><input type="hidden" name="hours" value="${hours}">${targetInput}
<label>Reason <input name="reason" maxlength="500"></label>${expiryInputs('allow')}
<button type="submit">Allowlist</button></form>
${listed('blocks').map((e) => html`<form method="post" action="${back}unblock" class="inline"><input type="hidden" name="hours" value="${hours}"><input type="hidden" name="target" value="${e.target}"><button type="submit" class="primary">Unblock ${e.target}</button></form> `)}
${listed('allow').map((e) => html`<form method="post" action="${back}unallow" class="inline"><input type="hidden" name="hours" value="${hours}"><input type="hidden" name="target" value="${e.target}"><button type="submit">Remove ${e.target} from the allowlist</button></form> `)}
</div>`;
}

async function render(req: Request, res: Response, deps: DashboardDeps, hoursText: string | undefined, flash: PageOptions['flash'], status = 200): Promise<void> {
  let client: ReturnType<typeof clientOf>;
  let hours: number;
  try {
    client = clientOf(String(req.params.client));
    hours = analysisHours(hoursText);
  } catch (err) {
    const bad = refusal(err);
    const title = 'Client';
    return sendPage(res, { title, active: 'client', body: html`<p>${ACCEPTED} The period is ?hours=1 to 720.</p>`, flash: bad.flash }, bad.status);
  }
  const a = await analyseClient({ analytics: deps.analytics, ...(deps.lists && { view: deps.lists.view }), now: deps.now }, client.address, hours);
  const now = deps.now();
  const body = html`${verdict(a, now)}
${actionForms(deps, a, client.client, hours)}
${hoursSelector(client.client, hours)}
${analysisSections(a)}
${clientPrivacySection(client.client, deps.privacy ? viewerOf(res).csrf : null)}`;
  sendPage(res, { title: client.client, active: 'client', body, flash }, status);
}

type Action = 'block' | 'unblock' | 'allow' | 'unallow';
const DONE: Record<Action, string> = { block: 'blocked', unblock: 'unblocked', allow: 'allowed', unallow: 'unallowed' };

export function registerClient(router: Router, deps: DashboardDeps): void {
  router.get('/clients/:client', async (req, res) => {
    let q: { hours?: string; done?: string };
    try {
      q = readQuery(req.query, ['hours', 'done'], 'a client\'s page');
    } catch (err) {
      const bad = refusal(err);
      return render(req, res, deps, undefined, bad.flash, bad.status);
    }
    await render(req, res, deps, q.hours, doneFlash(q.done));
  });

  for (const action of ['block', 'unblock', 'allow', 'unallow'] as const) {
    router.post(`/clients/:client/${action}`, async (req, res) => {
      const hours = /^\d{1,3}$/.test(field(req, 'hours')) ? field(req, 'hours') : undefined;
      let client: string;
      try {
        if (!deps.lists) throw new IpwatchError('IPWATCH_LISTS_UNAVAILABLE', NO_LISTS);
        client = clientOf(String(req.params.client)).client;
        const caller = viewerOf(res).caller;
        const input = { target: field(req, 'target'), reason: field(req, 'reason') };
        if (action === 'block') await deps.lists.changes.block({ ...input, expires: expiryOf(field(req, 'expires'), field(req, 'until')), severity: field(req, 'severity') || 'medium' }, caller);
        else if (action === 'allow') await deps.lists.changes.allow({ ...input, expires: expiryOf(field(req, 'expires'), field(req, 'until')) }, caller);
        else if (action === 'unblock') await deps.lists.changes.unblock(input, caller);
        else await deps.lists.changes.unallow(input, caller);
      } catch (err) {
        const bad = refusal(err);
        return render(req, res, deps, hours, bad.flash, bad.status);
      }
      res.redirect(303, href(clientHref(client), { hours, done: DONE[action] }));
    });
  }
}
