import { test, describe } from 'node:test';
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
