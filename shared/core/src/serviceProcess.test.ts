import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config.ts';
import { createMemoryEventLog } from './eventLog/memory.ts';
import { createHealth } from './observability/health.ts';
import { createMetrics } from './observability/metrics.ts';
import { PortInUseError } from './observability/server.ts';
import type { ServiceContext } from './service.ts';
import { createStops, startOrUnwind, startServiceProcess } from './serviceProcess.ts';
import { afterThisTest } from '../../../test/support/afterThisTest.ts';

test('stops run last started first; a failing or hanging stop is reported and the rest still run', async () => {
  const warnings: string[] = [];
  const order: string[] = [];
  const stops = createStops((m) => void warnings.push(m), 50);
  stops.add('store', () => void order.push('store'));
  stops.add('consumer', () => Promise.reject(new Error('broker gone')));
  stops.add('server', () => new Promise(() => {}));
  stops.add('timer', () => void order.push('timer'));
  await stops.stopAll();
  assert.deepEqual(order, ['timer', 'store']);
  assert.deepEqual(warnings, ['stopping server took over 50 ms; going on without it', 'stopping consumer failed']);
  await stops.stopAll();
  assert.deepEqual(order, ['timer', 'store'], 'each stop runs once');
});

test('startOrUnwind: a failure half-way stops what had started, then passes the failure on', async () => {
  const order: string[] = [];
  const stops = createStops(() => {});
  await assert.rejects(
    startOrUnwind(stops, async (s) => {
      s.add('store', () => void order.push('store'));
      s.add('sink', () => void order.push('sink'));
      throw new Error('port busy');
    }),
    /port busy/,
  );
  assert.deepEqual(order, ['sink', 'store']);
});

test('startServiceProcess: a taken metrics port closes the event log and rejects with PortInUseError', async () => {
  const holder = createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  afterThisTest(() => new Promise((r) => holder.close(r)));
  const port = (holder.address() as AddressInfo).port;
  const log = createMemoryEventLog();
  let closed = false;
  const ctx: ServiceContext = { config: loadConfig({}), log: Object.assign(Object.create(log) as typeof log, { close: async () => void (closed = true) }), health: createHealth(), metrics: createMetrics, warn: () => {} };
  let started = false;
  await assert.rejects(
    startServiceProcess({ ctx, metrics: createMetrics('x'), metricsPort: port, metricsHost: '127.0.0.1', start: async () => void (started = true) }),
    (err: unknown) => err instanceof PortInUseError && /already in use; set IPWATCH_METRICS_PORT/.test(err.message),
  );
  assert.equal(started, false, 'the service is not started without its /metrics');
  assert.equal(closed, true);
  await log.close();
});

test('startServiceProcess: /metrics and /healthz follow the configured access (IPWATCH_METRICS_TOKEN)', async () => {
  const token = 'scrape-token-0123456789abcdef-0123456789';
  const log = createMemoryEventLog();
  const ctx: ServiceContext = { config: loadConfig({ IPWATCH_METRICS_TOKEN: token }), log, health: createHealth(), metrics: createMetrics, warn: () => {} };
  const proc = await startServiceProcess({ ctx, metrics: createMetrics('x'), metricsPort: 0, metricsHost: '127.0.0.1', start: async () => {} });
  afterThisTest(() => proc.stop());
  const url = `http://127.0.0.1:${proc.observability.port}`;
  for (const path of ['/metrics', '/healthz']) {
    const refused = await fetch(`${url}${path}`);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { code: string }).code, 'IPWATCH_METRICS_BAD_TOKEN');
    const answered = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(answered.status, 200);
    await answered.text();
  }
});
