import { test, describe } from '@jest/globals';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createHealth, type HealthState } from './health.ts';
import { createMetrics } from './metrics.ts';
import { startObservabilityServer } from './server.ts';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';

/** A real HTTP request to the server, answered over loopback. */
function call(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
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
