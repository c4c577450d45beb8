/**
 * The dashboard's template engine: a tagged template that escapes every value it is given,
 * in text and in attributes alike, unless the value is itself `Html` (made by `html` from
 * constant markup). Attacker-controlled text (paths, user agents, usernames, reasons) can
 * therefore only ever become text: there is no way to pass a string through unescaped but
 * `trustedHtml`, which takes only markup the code itself wrote.
 *
 * @example
 * const row = html`<tr><td><a href="/clients/${ip}">${ip}</a></td><td>${userAgent}</td></tr>`;
 * const table = html`<table>${rows.map((r) => html`<tr><td>${r.path}</td></tr>`)}</table>`;
 * res.send(row.toString());
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Markup that is safe to emit as it is: made by `html` (its values escaped) or `trustedHtml`. */
export class Html {
  constructor(private readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

/** Escapes text for HTML text and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** The tagged template: values escaped, `Html` values and arrays of them inserted as they are. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Constant markup written in this code base (never text that came from a request). */
export function trustedHtml(markup: string): Html {
  return new Html(markup);
}

/**
 * A link target built from a path and query values: every value percent-encoded, empty ones
 * dropped. The result still goes through `html` (it escapes the `&`).
 *
 * @example
 * href('/requests', { ip: '203.0.113.7', status: '4xx' }); // '/requests?ip=203.0.113.7&status=4xx'
 */
export function href(path: string, query: Record<string, string | number | undefined | null> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

/** JSON for a `data-` attribute (charts read it): escaped by `html` like any value. */
export function dataJson(value: unknown): string {
  return JSON.stringify(value);
}
