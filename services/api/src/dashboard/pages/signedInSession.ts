/**
 * For the dashboard pages' tests: a browser-like session against a running api (the session
 * cookie, the page's form token, same-origin form posts, redirects not followed), signed in
 * with a token or signed out.
 */

export interface Answer {
  status: number;
  location: string | null;
  type: string | null;
  disposition: string | null;
  text: string;
}

export interface Session {
  /** The session cookie ('' when signed out). */
  cookie: string;
  get(path: string): Promise<Answer>;
  /** A form post as the dashboard's page sends it (same-origin); redirects are not followed. */
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Answer>;
  /** The form token of this session, read from `page` as a browser would. */
  csrf(): Promise<string>;
}

async function answer(res: globalThis.Response): Promise<Answer> {
  return { status: res.status, location: res.headers.get('location'), type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), text: await res.text() };
}

/** A session with `cookie` ('' for none) on the api at `base`, reading its form token from `page`. */
export function session(base: string, cookie: string, page: string): Session {
  return {
    cookie,
    async get(path) {
      return answer(await fetch(`${base}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} }));
    },
    async post(path, form, headers = { 'sec-fetch-site': 'same-origin' }) {
      return answer(
        await fetch(`${base}${path}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie && { cookie }), ...headers },
          body: new URLSearchParams(form).toString(),
        }),
      );
    },
    async csrf() {
      const answered = await this.get(page);
      const m = /name="csrf" value="([^"]+)"/.exec(answered.text);
      if (!m) throw new Error(`no form token on ${page} (status ${answered.status})`);
      return m[1]!;
    },
  };
}

/** Signs in with `token` as the sign-in form does, landing on `page`. */
export async function signIn(base: string, token: string, page: string): Promise<Session> {
  const res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' }, body: new URLSearchParams({ token, next: page }).toString() });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  if (res.status !== 303 || !cookie.startsWith('ipwatch_session=')) throw new Error(`sign-in failed: ${res.status}`);
  return session(base, cookie, page);
}
