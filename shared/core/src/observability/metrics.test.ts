import { test, describe } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMetrics, STANDARD_METRICS } from './metrics.ts';

describe('createMetrics', () => {
  test('exposes every standard metric with the service label, in the Prometheus text format', async () => {
    const metrics = createMetrics('enricher');
    metrics.eventsIn.inc({ topic: 'ipwatch.requests.v1' }, 3);
    metrics.eventsOut.inc({ topic: 'ipwatch.requests.enriched.v1' }, 2);
    metrics.batchSize.observe({ stage: 'enrich' }, 3);
    metrics.consumerLag.set({ group: 'ipwatch-enricher' }, 42);
    metrics.errors.inc({ kind: 'geo_lookup' });
    metrics.dropped.inc({ reason: 'invalid_ip' });
    metrics.dlq.inc({ topic: 'ipwatch.requests.v1' });
    metrics.stageSeconds.observe({ stage: 'enrich' }, 0.02);

    const text = await metrics.text();
    for (const spec of Object.values(STANDARD_METRICS)) {
      assert.match(text, new RegExp(`^# HELP ${spec.name} .*Unit: ${spec.unit}\\.$`, 'm'), spec.name);
    }
    assert.match(text, /^ipwatch_events_in_total\{topic="ipwatch.requests.v1",service="enricher"\} 3$/m);
    assert.match(text, /^ipwatch_consumer_lag\{group="ipwatch-enricher",service="enricher"\} 42$/m);
    assert.match(text, /^ipwatch_stage_seconds_count\{service="enricher",stage="enrich"\} 1$/m);
    assert.equal(metrics.contentType.startsWith('text/plain'), true);
  });

  test('includes the Node process metrics under the ipwatch_ prefix, labelled with the service', async () => {
    const text = await createMetrics('sink').text();
    assert.match(text, /^ipwatch_process_cpu_user_seconds_total\{service="sink"\} /m);
    assert.match(text, /^ipwatch_nodejs_eventloop_lag_seconds\{service="sink"\} /m);
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    assert.ok(names.length > 10);
    assert.deepEqual(names.filter((n) => !n?.startsWith('ipwatch_')), []);
  });

  test('only counters end in _total: the default gauges named like counters are left out, their per-type siblings kept', async () => {
    const text = await createMetrics('sink').text();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    assert.deepEqual([...types].filter(([name, type]) => name.endsWith('_total') !== (type === 'counter')), []);
    assert.equal(types.get('ipwatch_nodejs_active_handles'), 'gauge');
  });

  test('refuses names against the Prometheus conventions: counters end in _total, nothing else does, base units', () => {
    const metrics = createMetrics('api');
    assert.throws(() => metrics.counter({ name: 'ipwatch_api_calls', help: 'x' }), /a counter must end in _total/);
    assert.throws(() => metrics.gauge({ name: 'ipwatch_api_open_total', help: 'x' }), /a gauge must not end in _total/);
    assert.throws(() => metrics.histogram({ name: 'ipwatch_api_latency_ms', help: 'x' }), /base units/);
    assert.throws(() => metrics.gauge({ name: 'ipwatch_api_body_kb', help: 'x' }), /base units/);
  });

  test('a collected counter copies running totals kept elsewhere at each scrape', async () => {
    const metrics = createMetrics('shop');
    const stats = { blocked: 2, limited: 0 };
    metrics.counter<'by'>({
      name: 'ipwatch_shop_refused_total',
      help: 'Refused requests.',
      labelNames: ['by'],
      collect: (totals) => {
        totals.set({ by: 'blocked' }, stats.blocked);
        totals.set({ by: 'limited' }, stats.limited);
      },
    });
    assert.match(await metrics.text(), /^ipwatch_shop_refused_total\{by="blocked",service="shop"\} 2$/m);
    stats.blocked = 5;
    stats.limited = 1;
    const text = await metrics.text();
    assert.match(text, /^ipwatch_shop_refused_total\{by="blocked",service="shop"\} 5$/m);
    assert.match(text, /^ipwatch_shop_refused_total\{by="limited",service="shop"\} 1$/m);
    assert.match(text, /^# TYPE ipwatch_shop_refused_total counter$/m);
  });

  test('each call has its own registry, so two services in one process do not collide', async () => {
    const a = createMetrics('enricher');
    const b = createMetrics('sink');
    a.eventsIn.inc({ topic: 't' });
    assert.notEqual(a.registry, b.registry);
    assert.doesNotMatch(await b.text(), /ipwatch_events_in_total\{/);
  });

  test("registers a service's own metrics in the same registry", async () => {
    const metrics = createMetrics('sink');
    const rows = metrics.counter({ name: 'ipwatch_sink_rows_total', help: 'Rows inserted.', labelNames: ['table'] as const });
    rows.inc({ table: 'requests' }, 5);
    const pending = metrics.gauge({ name: 'ipwatch_sink_pending_rows', help: 'Rows waiting.' });
    pending.set(7);
    const insert = metrics.histogram({ name: 'ipwatch_sink_insert_seconds', help: 'Insert time.', buckets: [0.1, 1] });
    insert.observe(0.5);

    const text = await metrics.text();
    assert.match(text, /^ipwatch_sink_rows_total\{table="requests",service="sink"\} 5$/m);
    assert.match(text, /^ipwatch_sink_pending_rows\{service="sink"\} 7$/m);
    assert.match(text, /^ipwatch_sink_insert_seconds_bucket\{le="1",service="sink"\} 1$/m);
  });

  test('refuses an extra metric outside the ipwatch_ prefix or registered twice', () => {
    const metrics = createMetrics('api');
    assert.throws(() => metrics.counter({ name: 'requests_total', help: 'x' }), /must start with "ipwatch_"/);
    metrics.gauge({ name: 'ipwatch_api_sessions', help: 'x' });
    assert.throws(() => metrics.gauge({ name: 'ipwatch_api_sessions', help: 'x' }), /already registered/);
    assert.throws(() => metrics.counter({ name: STANDARD_METRICS.errors.name, help: 'x' }), /already registered/);
  });

  test('refuses a service name that cannot be a label value in a dashboard filter', () => {
    assert.throws(() => createMetrics('bad name"'), /service name/);
  });
});
