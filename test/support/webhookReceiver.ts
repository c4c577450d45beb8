/**
 * A webhook receiver on loopback for tests: a real HTTP server that checks each delivery's
 * signature as a user's receiver would (`verifyWebhookSignature`) and keeps what it got. It
 * can be told to answer with an error status for a while.
 *
 * @example
 * const hook = await startWebhookReceiver(secret);
 * // IPWATCH_ALERT_WEBHOOK_URL=hook.url IPWATCH_ALERT_WEBHOOK_SECRET=secret
 * const [d] = await hook.waitFor(1);   // d.verified, d.body (parsed JSON), d.headers
 * await hook.close();
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '@ipwatch/alerter';

export interface Delivery {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: Record<string, unknown>;
  /** null when the signature verified; otherwise why not. */
  refusedBecause: string | null;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly deliveries: Delivery[];
  /** While set, every request is answered with this status (and not kept). */
  failWith: number | null;
  waitFor(n: number, timeoutMs?: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string | null, path = '/hooks/ipwatch'): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const state: { failWith: number | null } = { failWith: null };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.failWith !== null) {
        res.writeHead(state.failWith).end('not now');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const verdict = secret === null ? { ok: true as const } : verifyWebhookSignature(secret, { timestamp: header('x-ipwatch-timestamp'), signature: header('x-ipwatch-signature') }, raw);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // kept as raw
      }
      deliveries.push({ headers: req.headers, raw, body, refusedBecause: verdict.ok ? null : verdict.reason });
      res.writeHead(verdict.ok ? 200 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    deliveries,
    get failWith() {
      return state.failWith;
    },
    set failWith(v: number | null) {
      state.failWith = v;
    },
    async waitFor(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (deliveries.length < n) {
        if (Date.now() > deadline) throw new Error(`${n} webhook deliveries expected, ${deliveries.length} arrived within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return deliveries;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
