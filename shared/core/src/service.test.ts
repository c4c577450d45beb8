import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { loadConfig } from './config.ts';
import { createMemoryEventLog } from './eventLog/memory.ts';
import type { LogBatch } from './eventLog.ts';
import { createHealth } from './observability/health.ts';
import { createMetrics } from './observability/metrics.ts';
import { handlerLoop, startConsumerService, type ServiceContext } from './service.ts';

function context(): ServiceContext & { warnings: string[] } {
  const warnings: string[] = [];
  return { config: loadConfig({}), log: createMemoryEventLog(), health: createHealth(), metrics: createMetrics, warn: (m) => void warnings.push(m), warnings };
}

test('a new consumer service is a handler plus a few lines: health under its name, lag published, failures counted and retried', async () => {
  const ctx = context();
  const metrics = ctx.metrics('scorer');
  const seen: string[] = [];
  let failOnce = true;
  const handle = async (batch: LogBatch) => {
    if (failOnce) {
      failOnce = false;
      throw new Error('the model is loading');
    }
    seen.push(...batch.messages.map((m) => String(m.value)));
  };
  const loop = handlerLoop(ctx, { group: 'ipwatch-scorer', metrics, topics: ['t'], errorKind: 'score', handle });
  const service = await startConsumerService(ctx, { name: 'scorer', group: 'ipwatch-scorer', metrics, loop });
  await ctx.log.produce('t', [{ key: 'k', value: Buffer.from('one') }]);
  while (seen.length < 1) await new Promise((r) => setTimeout(r, 5));

  assert.deepEqual(seen, ['one']);
  const report = await ctx.health.report();
  assert.equal(report.checks.scorer?.state, 'ok');
  const text = await metrics.text();
  assert.match(text, /^ipwatch_errors_total\{kind="score",service="scorer"\} 1$/m);
  assert.match(text, /^ipwatch_consumer_lag\{group="ipwatch-scorer",service="scorer"\} \d+$/m);
  assert.deepEqual(ctx.warnings, ['ipwatch-scorer: batch failed, retrying']);

  await service.stop();
  assert.deepEqual((await ctx.health.report()).checks, {}, 'stopping removes the health check');
  await ctx.log.close();
});

test('a loop that fails to start releases what the service holds; a duplicate name stops the loop again', async () => {
  const ctx = context();
  const metrics = ctx.metrics('x');
  const released: string[] = [];
  const failing = { start: () => Promise.reject(new Error('no broker')), stop: async () => {} };
  await assert.rejects(startConsumerService(ctx, { name: 'x', group: 'g', metrics, loop: failing, release: () => void released.push('geo') }), /no broker/);
  assert.deepEqual(released, ['geo']);

  ctx.health.register('taken', () => ({ state: 'ok' }));
  let stopped = false;
  const loop = handlerLoop(ctx, { group: 'g2', metrics, topics: ['t'], errorKind: 'x', handle: async () => {} });
  const watched = { start: () => loop.start(), stop: async () => { stopped = true; await loop.stop(); } };
  await assert.rejects(startConsumerService(ctx, { name: 'taken', group: 'g2', metrics, loop: watched }), /already registered/);
  assert.equal(stopped, true);
  await ctx.log.close();
});
