/**
 * The HTTP endpoint of a service: GET /metrics for Prometheus, GET /healthz for
 * orchestrators (200 while ok or degraded, 503 on error, so a degraded service is
 * looked at but not restarted). Plain node:http: it must keep answering when the
 * service's own framework, if any, is the thing that is stuck. Who may read them: access.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthReport } from './health.ts';
import { IpwatchError } from '../errors.ts';
import { LOOPBACK_ONLY, metricsRefusal, type MetricsAccess } from './access.ts';

/** A port another process holds. The message names the variable that moves it. */
export class PortInUseError extends IpwatchError {
  override name = 'PortInUseError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_PORT_IN_USE', message, options);
  }
}

export interface ObservabilityServerOptions {
  /** 0 picks a free port (read it back from the result). */
  port: number;
  /** Listen address. Default: every interface, since Prometheus scrapes from another host. */
  host?: string;
  metrics: { readonly contentType: string; text(): Promise<string> };
  health: { report(): Promise<HealthReport> };
  /** Who may read it (config.metricsAccess). Default: requests addressed to loopback only. */
  access?: MetricsAccess;
}

export interface ObservabilityServer {
  /** The port actually listened on. */
  port: number;
  close(): Promise<void>;
}

/**
 * @example
 * const server = await startObservabilityServer({ port: config.metricsPort, access: config.metricsAccess, metrics, health });
 * // ... on shutdown:
 * await server.close();
 */
export async function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const { metrics, health } = options;
  const refusal = metricsRefusal(options.access ?? LOOPBACK_ONLY);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Before anything else: a rebinding page must not even learn which paths exist.
    const refused = refusal(req);
    if (refused) {
      if (refused.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      send(res, refused.status, 'application/json; charset=utf-8', `${JSON.stringify({ error: refused.message, code: refused.code })}\n`, req.method === 'HEAD');
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/healthz') {
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try GET /metrics or GET /healthz\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', `${req.method ?? ''} is not allowed on ${path}: use GET\n`);
      return;
    }
    if (path === '/metrics') {
      send(res, 200, metrics.contentType, await metrics.text(), req.method === 'HEAD');
      return;
    }
    const report = await health.report();
    send(res, report.state === 'error' ? 503 : 200, 'application/json; charset=utf-8', `${JSON.stringify(report)}\n`, req.method === 'HEAD');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `could not answer ${req.url ?? ''}: ${message}\n`);
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${options.host ?? '*'}:${options.port}`;
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(`cannot serve /metrics and /healthz: ${where} is already in use; set IPWATCH_METRICS_PORT to a free port (0 picks one)`, { cause: err })
          : new Error(`cannot serve /metrics and /healthz on ${where}: ${err.message}`, { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Scrapers keep connections alive; without this close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headOnly = false): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(headOnly ? undefined : body);
}
