/** The api service as a process of its own, or as part of the embedded `ipwatch dev`. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ServiceContext, RunningService } from '@ipwatch/core/service';
import type { Analytics } from '@ipwatch/store';
import { createApiApp } from './apiServer.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface ApiService extends RunningService {
  readonly port: number;
  readonly url: string;
}

export async function startApiService(ctx: ServiceContext, analytics: Analytics, extraStatus?: () => Record<string, unknown>): Promise<ApiService> {
  const { host, port, token } = ctx.config.api;
  if (!token && !LOOPBACK.has(host)) {
    throw new Error(`the api would listen on ${host} without a token: set IPWATCH_API_TOKEN (the CLI sends it too), or listen on 127.0.0.1`);
  }
  const app = createApiApp({
    analytics,
    token,
    status: () => ({ mode: { eventLog: ctx.log.kind, analytics: analytics.engine }, ...(extraStatus?.() ?? {}) }),
  });
  const server = app.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      const e = err as NodeJS.ErrnoException;
      throw new Error(e.code === 'EADDRINUSE' ? `port ${port} is in use: is another ipwatch running? Set IPWATCH_API_PORT to another port.` : e.message);
    }),
  ]);
  const actual = (server.address() as AddressInfo).port;
  ctx.health.register('api', () => ({ state: server.listening ? 'ok' : 'error' }));
  return {
    name: 'api',
    port: actual,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
