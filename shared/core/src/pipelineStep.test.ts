import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { LogMessage } from './eventLog.ts';
import { createMemoryEventLog } from './eventLog/memory.ts';
import { DLQ_HEADERS } from './eventLog/dlq.ts';
import { createMetrics } from './observability/metrics.ts';
import { DecodeError } from './schemas.ts';
import { applyStep, decodeStep, drop, ok } from './pipelineStep.ts';

class RowError extends Error {}

const message: LogMessage = { topic: 'ipwatch.requests.v1', partition: 2, offset: '41', timestamp: 1, key: 'k', value: Buffer.from([1, 2]), headers: { a: 'b' } };

test('decodeStep: a value is ok, a DecodeError or a named permanent error is dlq, anything else is thrown (retried)', () => {
  assert.deepEqual(decodeStep('decode', () => 7), { kind: 'ok', value: 7 });
  const bad = decodeStep('decode', () => {
    throw new DecodeError('truncated');
  });
  assert.equal(bad.kind, 'dlq');
  assert.equal(bad.kind === 'dlq' && bad.reason, 'decode');
  const row = decodeStep('row', () => {
    throw new RowError('no such column');
  }, [RowError]);
  assert.equal(row.kind, 'dlq');
  assert.throws(() => decodeStep('decode', () => {
    throw new Error('clickhouse is down');
  }), /clickhouse is down/);
});

test('applyStep: ok passes the value on; dlq lands in the DLQ with its origin and is counted; drop is counted by reason', async () => {
  const log = createMemoryEventLog();
  const metrics = createMetrics('step-test');
  const rejected: string[] = [];
  const options = { log, metrics, onRejected: (r: { kind: string }) => void rejected.push(r.kind) };

  assert.equal(await applyStep(ok('value'), message, options), 'value');
  assert.equal(await applyStep(decodeStep('decode', () => { throw new DecodeError('not a valid RequestEvent'); }), message, options), undefined);
  assert.equal(await applyStep(drop('too_old'), message, options), undefined);
  assert.deepEqual(rejected, ['dlq', 'drop']);

  const dead: LogMessage[] = [];
  const consumer = await log.consume({ groupId: 'dlq-reader', topics: ['ipwatch.dlq.v1'], handle: async (b) => void dead.push(...b.messages) });
  while (dead.length < 1) await new Promise((r) => setTimeout(r, 5));
  await consumer.stop();
  await log.close();
  assert.equal(dead.length, 1);
  assert.deepEqual(dead[0]!.value, message.value);
  assert.equal(dead[0]!.headers.a, 'b');
  assert.equal(dead[0]!.headers[DLQ_HEADERS.error], 'DecodeError: not a valid RequestEvent');
  assert.equal(dead[0]!.headers[DLQ_HEADERS.sourceTopic], 'ipwatch.requests.v1');
  assert.equal(dead[0]!.headers[DLQ_HEADERS.sourceOffset], '41');

  const text = await metrics.text();
  assert.match(text, /^ipwatch_dlq_total\{topic="ipwatch.requests.v1",service="step-test"\} 1$/m);
  assert.match(text, /^ipwatch_dropped_total\{reason="too_old",service="step-test"\} 1$/m);
});
