/** The CLI's side of the api: it is a client of the api service, like kubectl or cscli. */
import type { IpwatchConfig } from '@ipwatch/core/config';
import { printable } from './output.ts';

export class ApiUnreachable extends Error {
  override readonly name = 'ApiUnreachable';
}

/** The api answered, and refused (bad filter, wrong token): its message is for the user. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
}

export function apiBaseUrl(config: Readonly<IpwatchConfig>): string {
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host === '::' ? '::1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

/** GET an api path; ApiUnreachable when nothing listens, ApiError with the api's message on a refusal. */
export function apiGet<T>(config: Readonly<IpwatchConfig>, path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  return apiRequest<T>(config, 'GET', path, { query });
}

/** Any api call: JSON body out (for POST), JSON answer back. */
export async function apiRequest<T>(
  config: Readonly<IpwatchConfig>,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: { query?: Record<string, string | undefined>; body?: unknown } = {},
): Promise<T> {
  const url = new URL(path, apiBaseUrl(config));
  for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  const headers: Record<string, string> = config.api.token ? { authorization: `Bearer ${config.api.token}` } : {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new ApiUnreachable(`the api at ${url.origin} does not answer (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  // The text comes from whatever listens on the port: printable only.
  if (!res.ok) throw new ApiError(printable(String(body.error ?? `the api answered ${res.status}`)).slice(0, 500));
  return body as T;
}
