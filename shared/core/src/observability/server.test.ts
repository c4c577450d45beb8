import { test, describe } from '@jest/globals';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createHealth, type HealthState } from './health.ts';
import { createMetrics } from './metrics.ts';
import { startObservabilityServer } from './server.ts';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';

/** A real HTTP request to the server, answered over loopback; `headers` may set another Host, as a browser led by a rebinding page would. */
function call(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startObservabilityServer', () => {
  test('serves /metrics and /healthz over real HTTP on a free port', async () => {
    const metrics = createMetrics('enricher');
    metrics.eventsIn.inc({ topic: 'ipwatch.requests.v1' }, 2);
    const health = createHealth();
    let state: HealthState = 'ok';
    health.register('consumer', () => ({ state, detail: `it is ${state}` }));

    const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, health });
    afterThisTest(() => server.close());
    assert.ok(server.port > 0);

    const m = await call(server.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    assert.match(m.body, /^ipwatch_events_in_total\{topic="ipwatch.requests.v1",service="enricher"\} 2$/m);

    const ok = await call(server.port, '/healthz');
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^application\/json/);
    assert.deepEqual(JSON.parse(ok.body), { state: 'ok', checks: { consumer: { state: 'ok', detail: 'it is ok' } } });

    state = 'degraded';
    const degraded = await call(server.port, '/healthz?verbose=1');
    assert.equal(degraded.status, 200, 'degraded still answers 200: look at it, do not restart it');
    assert.equal(JSON.parse(degraded.body).state, 'degraded');

    state = 'error';
    const error = await call(server.port, '/healthz');
    assert.equal(error.status, 503);
    assert.deepEqual(JSON.parse(error.body), { state: 'error', checks: { consumer: { state: 'error', detail: 'it is error' } } });
  });

  test('404 for other paths, 405 for other methods', async () => {
    const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics: createMetrics('api'), health: createHealth() });
    afterThisTest(() => server.close());
    assert.equal((await call(server.port, '/')).status, 404);
    assert.equal((await call(server.port, '/metricsx')).status, 404);
    assert.equal((await call(server.port, '/metrics', 'POST')).status, 405);
    const head = await call(server.port, '/healthz', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  test('a failing metrics collection answers 500 with the reason', async () => {
    const metrics = { contentType: 'text/plain', text: () => Promise.reject(new Error('collector broke')) };
    const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, health: createHealth() });
    afterThisTest(() => server.close());
    const res = await call(server.port, '/metrics');
    assert.equal(res.status, 500);
    assert.match(res.body, /collector broke/);
  });

  test('a port in use fails with what to do next', async () => {
    const first = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics: createMetrics('a'), health: createHealth() });
    afterThisTest(() => first.close());
    await assert.rejects(
      startObservabilityServer({ port: first.port, host: '127.0.0.1', metrics: createMetrics('b'), health: createHealth() }),
      /already in use; set IPWATCH_METRICS_PORT/,
    );
  });

  test('close() returns promptly even with a keep-alive connection open', async () => {
    const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics: createMetrics('a'), health: createHealth() });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/healthz', headers: { connection: 'keep-alive' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000);
  });
});

describe('who may read /metrics and /healthz', () => {
  const TOKEN = 'scrape-token-0123456789abcdef-0123456789';
  const PATHS = ['/metrics', '/healthz'];

  async function serve(access?: { token: string | null; allow: string[] }) {
    const metrics = createMetrics('sink');
    metrics.eventsIn.inc({ topic: 'ipwatch.requests.v1' }, 7);
    const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, health: createHealth(), ...(access && { access }) });
    afterThisTest(() => server.close());
    return server.port;
  }

  /** Answered: 200 with the real content. */
  async function assertAnswered(port: number, path: string, headers: Record<string, string>): Promise<void> {
    const res = await call(port, path, 'GET', headers);
    assert.equal(res.status, 200, `${path} with ${JSON.stringify(headers)}: ${res.body}`);
    if (path === '/metrics') assert.match(res.body, /^ipwatch_events_in_total\{.*\} 7$/m);
    else assert.equal(JSON.parse(res.body).state, 'ok');
  }

  /** Refused with a registry code, and nothing of the metrics or health in the answer. */
  async function assertRefused(port: number, path: string, headers: Record<string, string>, status: number, code: string): Promise<void> {
    const res = await call(port, path, 'GET', headers);
    assert.equal(res.status, status, `${path} with ${JSON.stringify(headers)}: ${res.body}`);
    const body = JSON.parse(res.body) as { code: string; error: string };
    assert.equal(body.code, code);
    assert.match(body.error, /IPWATCH_METRICS_(TOKEN|ALLOW)/, 'the refusal says what to set');
    assert.doesNotMatch(res.body, /ipwatch_events_in_total|"state"/);
    if (status === 401) assert.equal(res.headers['www-authenticate'], 'Bearer');
  }

  test('by default, a request addressed to a loopback name is answered and a rebinding Host is refused, on both paths', async () => {
    const port = await serve();
    for (const path of PATHS) {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) await assertAnswered(port, path, { host });
      for (const host of [`attacker.example:${port}`, 'localhost.attacker.example', `127.0.0.1.nip.io:${port}`, `10.0.0.5:${port}`]) {
        await assertRefused(port, path, { host }, 403, 'IPWATCH_METRICS_NOT_ALLOWED');
      }
    }
    // Refused before routing: a rebinding page learns nothing, not even which paths exist.
    const other = await call(port, '/', 'GET', { host: 'attacker.example' });
    assert.equal(other.status, 403);
  });

  test('with a token: a request bearing it is answered from any Host; without it, or with another, refused 401, even on loopback', async () => {
    const port = await serve({ token: TOKEN, allow: [] });
    for (const path of PATHS) {
      for (const host of ['prometheus-target.internal:9464', `127.0.0.1:${port}`, '10.0.0.5:9464']) await assertAnswered(port, path, { host, authorization: `Bearer ${TOKEN}` });
      await assertAnswered(port, path, { host: 'attacker.example', authorization: `bearer  ${TOKEN}` });
      for (const host of ['attacker.example', `127.0.0.1:${port}`]) {
        await assertRefused(port, path, { host }, 401, 'IPWATCH_METRICS_BAD_TOKEN');
        await assertRefused(port, path, { host, authorization: `Bearer ${TOKEN}x` }, 401, 'IPWATCH_METRICS_BAD_TOKEN');
        await assertRefused(port, path, { host, authorization: TOKEN }, 401, 'IPWATCH_METRICS_BAD_TOKEN');
      }
    }
  });

  test('IPWATCH_METRICS_ALLOW: a name the service goes by is answered; a client network, when it addresses the server by IP or by such a name', async () => {
    const named = await serve({ token: null, allow: ['sink.monitoring.svc'] });
    for (const path of PATHS) {
      await assertAnswered(named, path, { host: 'sink.monitoring.svc:9464' });
      await assertAnswered(named, path, { host: 'SINK.monitoring.svc.' });
      await assertRefused(named, path, { host: 'attacker.example' }, 403, 'IPWATCH_METRICS_NOT_ALLOWED');
      await assertRefused(named, path, { host: '10.0.0.5:9464' }, 403, 'IPWATCH_METRICS_NOT_ALLOWED');
    }

    // The test's client is 127.0.0.1: in 127.0.0.0/8, as a kubelet probe is in its node network.
    const network = await serve({ token: null, allow: ['127.0.0.0/8'] });
    for (const path of PATHS) {
      await assertAnswered(network, path, { host: '10.0.0.5:9464' });
      // A browser inside the network, led there by a rebinding page, still sends the page's name.
      await assertRefused(network, path, { host: 'attacker.example' }, 403, 'IPWATCH_METRICS_NOT_ALLOWED');
    }
    const elsewhere = await serve({ token: null, allow: ['10.0.0.0/8'] });
    await assertRefused(elsewhere, '/metrics', { host: '10.0.0.5:9464' }, 403, 'IPWATCH_METRICS_NOT_ALLOWED');
  });

  test('with a token and IPWATCH_METRICS_ALLOW: a client network is answered without the token; a listed name alone is not (any client can send any Host)', async () => {
    const port = await serve({ token: TOKEN, allow: ['127.0.0.0/8', 'sink'] });
    await assertAnswered(port, '/healthz', { host: '10.0.0.5:9464' });
    await assertAnswered(port, '/metrics', { host: 'sink:9464' });
    await assertRefused(port, '/metrics', { host: 'attacker.example' }, 401, 'IPWATCH_METRICS_BAD_TOKEN');
    const named = await serve({ token: TOKEN, allow: ['sink'] });
    await assertRefused(named, '/metrics', { host: 'sink:9464' }, 401, 'IPWATCH_METRICS_BAD_TOKEN');
    await assertAnswered(named, '/metrics', { host: 'sink:9464', authorization: `Bearer ${TOKEN}` });
  });
});
