/**
 * What the pages that act (a client's page, the blocks and allowlist pages, the rules pages)
 * share: reading a posted form's fields as text, the expiry and severity inputs, the fixed
 * messages shown after an action (`?done=<code>`), turning a refused change into a message on
 * the page (the registry's status and text), and times shown to people.
 */
import type { Request } from 'express';
import { isIpwatchError } from '@ipwatch/core/errors';
import { formatTimeLeft } from '@ipwatch/core/blockTarget';
import { html, type Html } from '../html.ts';
import type { PageOptions } from '../layout.ts';
import { clientHref, logHref } from '../links.ts';

export const SEVERITY_CHOICES = ['low', 'medium', 'high', 'critical'] as const;
/** The expiry presets of the block and allow forms (as `ipwatch block --expires` takes them). */
export const EXPIRY_CHOICES: ReadonlyArray<[string, string]> = [
  ['+1h', '1 hour'],
  ['+24h', '24 hours'],
  ['+7d', '7 days'],
  ['never', 'never'],
];

/** After an action, the page is asked for again with ?done=<code>: only these texts are ever shown. */
const DONE: Record<string, string> = {
  blocked: 'Blocked: every app instance refuses it within a second or two.',
  unblocked: 'Unblocked.',
  allowed: 'Allowlisted: no block or rate limit applies to it while the entry lasts.',
  unallowed: 'Removed from the allowlist.',
  saved: 'Rule saved: every scorer applies it within a second.',
  unchanged: 'Nothing changed: the rule already says that.',
  enabled: 'Rule enabled.',
  disabled: 'Rule disabled.',
  'dry-run': 'Rule in dry run: it records detections but blocks nobody.',
  live: 'Rule live: it acts as its action says.',
  reset: 'Rule reset to what ipwatch ships (a custom rule is deleted).',
};

/** The message for `?done=`, or null (an unknown code shows nothing). */
export function doneFlash(code: unknown): PageOptions['flash'] {
  return typeof code === 'string' && Object.hasOwn(DONE, code) ? { kind: 'ok', text: DONE[code] as string } : null;
}

/** A posted field as text ('' when absent; a repeated field is refused by taking none). */
export function field(req: Request, name: string): string {
  const body = req.body as Record<string, unknown> | undefined;
  const v = body?.[name];
  return typeof v === 'string' ? v : '';
}

/**
 * The expiry of a block or allow form: the custom time when given (a datetime-local input,
 * read as UTC, or any ISO-8601 time), else the preset. The list changes parse it (parseExpiry)
 * and refuse it with their own message.
 *
 * @example
 * expiryOf('+7d', ''); // '+7d'
 * expiryOf('+7d', '2026-12-24T18:00'); // '2026-12-24T18:00:00Z'
 */
export function expiryOf(preset: string, until: string): string {
  const custom = until.trim();
  if (custom) return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(custom) ? `${custom}:00Z` : custom;
  return preset || 'never';
}

/**
 * A refused change (bad target, range too wide, nothing to remove) as a message on the page,
 * with the registry's status; any other failure is thrown on (a 500 page, logged).
 */
export function refusal(err: unknown): { flash: NonNullable<PageOptions['flash']>; status: number } {
  if (isIpwatchError(err) && err.status < 500) return { flash: { kind: 'error', text: err.message }, status: err.status };
  if (isIpwatchError(err) && (err.code === 'IPWATCH_LISTS_UNAVAILABLE' || err.status === 503)) return { flash: { kind: 'error', text: err.message }, status: err.status };
  throw err;
}

/** A time as people read it in a table: 2026-12-01 02:24:19 UTC. */
export function when(ms: number | null): string {
  if (ms === null) return 'never';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** "6d 23h" left, "never", or "expired". */
export function timeLeft(at: number | null, now: number): string {
  return formatTimeLeft(at, now);
}

/** The expiry and severity inputs shared by the block forms. */
export function expiryInputs(prefix: string): Html {
  return html`<label>Expires <select name="expires">${EXPIRY_CHOICES.map(([v, label]) => html`<option value="${v}"${v === '+24h' ? html` selected` : ''}>${label}</option>`)}</select></label>
<label>or until (UTC) <input type="datetime-local" name="until" id="${prefix}-until"></label>`;
}

export function severityInput(): Html {
  return html`<label>Severity <select name="severity">${SEVERITY_CHOICES.map((s) => html`<option value="${s}"${s === 'medium' ? html` selected` : ''}>${s}</option>`)}</select></label>`;
}

/**
 * Where a list target leads: its client page (an address, or an IPv6 /64, which is one
 * client), or for a wider range the request log filtered by it.
 *
 * @example
 * targetHref('203.0.113.7'); // '/clients/203.0.113.7'
 * targetHref('203.0.113.0/24'); // '/requests?ip=203.0.113.0%2F24'
 */
export function targetHref(target: string): string {
  return !target.includes('/') || (target.includes(':') && target.endsWith('/64')) ? clientHref(target) : logHref({ ip: target });
}

/** The notice shown instead of a form when the api runs without the event log. */
export const NO_LISTS = 'This api runs without the event log, so it cannot show or change the block list and the allowlist: use the api of `ipwatch dev` or `ipwatch run api`.';
