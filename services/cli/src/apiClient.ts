/**
 * The CLI's side of the api: it is a client of the api service, like kubectl or cscli. The
 * commands call API v1 (/api/v1/..., described by /api/v1/openapi.json); an api too old to
 * serve v1 is named as such rather than reported as an unknown endpoint.
 */
import type { IpwatchConfig } from '@ipwatch/core/config';
import { IpwatchError, isErrorCode, type ErrorCode } from '@ipwatch/core/errors';
import { printable } from './output.ts';

/** Nothing answers at the api's address. */
export class ApiUnreachable extends IpwatchError {
  override readonly name = 'ApiUnreachable';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_API_UNREACHABLE', message, options);
  }
}

/**
 * The api answered, and refused (bad filter, wrong token): its message is for the user, and
 * its code (the api's, or IPWATCH_API_REFUSED when the answer has none) sets the exit code.
 */
export class ApiError extends IpwatchError {
  override readonly name = 'ApiError';
  constructor(message: string, code: ErrorCode = 'IPWATCH_API_REFUSED') {
    super(code, message);
  }
}

export function apiBaseUrl(config: Readonly<IpwatchConfig>): string {
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host === '::' ? '::1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

/** Where API v1 lives: every path the commands call starts with it. */
export const API_V1 = '/api/v1';

/** GET an api path; ApiUnreachable when nothing listens, ApiError with the api's message on a refusal. */
export function apiGet<T>(config: Readonly<IpwatchConfig>, path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  return apiRequest<T>(config, 'GET', path, { query });
}

/**
 * Any api call: JSON body out (for POST), JSON answer back. `timeoutMs` (default 15 s): longer
 * for what takes ClickHouse a while (an erasure waits for its mutations).
 */
export async function apiRequest<T>(
  config: Readonly<IpwatchConfig>,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: { query?: Record<string, string | undefined>; body?: unknown; timeoutMs?: number } = {},
): Promise<T> {
  // Every command talks to v1: an unversioned path here is a command left behind, caught by its tests.
  if (!path.startsWith(`${API_V1}/`)) throw new IpwatchError('IPWATCH_INTERNAL', `ipwatch called the api at ${path}, outside ${API_V1}: a bug in this command; report it`);
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
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
  } catch (err) {
    throw new ApiUnreachable(`the api at ${url.origin} does not answer (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`, { cause: err });
  }
  const body: unknown = await res.json().catch(() => ({}));
  if (res.ok) return body as T;
  const refusal = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; code?: unknown };
  // The text comes from whatever listens on the port: printable only, and a code only if it is one of ours.
  const message = printable(String(refusal.error ?? `the api at ${url.origin} answered ${res.status} ${res.statusText}`)).slice(0, 500);
  if (refusal.code === 'IPWATCH_NO_SUCH_ENDPOINT' && path.startsWith(`${API_V1}/`) && !/\/api\/v1\//.test(message)) {
    // An api of before v1 names only unversioned endpoints: the CLI is newer than the api it reached.
    throw new ApiError(`the api at ${url.origin} does not serve ${API_V1} (it is older than this CLI): restart ipwatch or the api service (\`ipwatch run api\`) with this version. It said: ${message.slice(0, 200)}`, 'IPWATCH_NO_SUCH_ENDPOINT');
  }
  throw new ApiError(message, isErrorCode(refusal.code) ? refusal.code : 'IPWATCH_API_REFUSED');
}
