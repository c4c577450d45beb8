import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createMemoryEventLog } from './eventLog/memory.ts';
import type { EventLog, LogMessage } from './eventLog.ts';
import { DLQ_HEADERS } from './eventLog/dlq.ts';
import { createMetrics } from './observability/metrics.ts';
import { codecs } from './schemas.ts';
import { TOPICS } from './topics.ts';
import { DEFAULT_RULES, defaultRule, ruleMessage, ruleRemoval, type Rule } from './rules.ts';
import { createRuleBook, type RuleBook } from './ruleBook.ts';

const burst = defaultRule('burst') as Rule;
const mine: Rule = { ...burst, id: 'my-burst', threshold: 500, description: 'mine', updatedAt: 1, updatedBy: 'alice' };

async function eventually(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function dlqRecords(log: EventLog): Promise<LogMessage[]> {
  const seen: LogMessage[] = [];
  const reader = await log.readCompacted(TOPICS.dlq, { onMessage: (m) => seen.push(m), follow: false });
  await reader.ready;
  return seen;
}

async function open(log: EventLog, onChange?: (rules: readonly Rule[]) => void): Promise<RuleBook & { warnings: string[] }> {
  const warnings: string[] = [];
  const book = createRuleBook({ log, metrics: createMetrics('rulebook-test'), warn: (m) => warnings.push(m), ...(onChange && { onChange }) });
  await book.ready;
  return Object.assign(book, { warnings });
}

test('an empty topic: the default rules, as shipped', async () => {
  const log = createMemoryEventLog();
  const book = await open(log);
  assert.deepEqual(book.rules().map((r) => r.id), DEFAULT_RULES.map((r) => r.id));
  assert.equal(book.get('burst'), burst);
  assert.equal(book.origin('burst'), 'default');
  assert.equal(book.origin('nothing-here'), undefined);
  assert.equal(book.get('nothing-here'), undefined);
  assert.equal(book.version(), 0);
  await book.stop();
  await log.close();
});

test('a change, a custom rule and a disabled default on the topic; a tombstone brings the default back and deletes a custom rule', async () => {
  const log = createMemoryEventLog();
  const tuned: Rule = { ...burst, threshold: 80, updatedAt: 2, updatedBy: 'bob' };
  const off: Rule = { ...(defaultRule('hourly-volume') as Rule), enabled: false, updatedAt: 3, updatedBy: 'bob' };
  await log.produce(TOPICS.rules, [ruleMessage(tuned), ruleMessage(mine), ruleMessage(off)]);
  const book = await open(log);
  assert.equal(book.get('burst')?.threshold, 80);
  assert.equal(book.origin('burst'), 'changed');
  assert.equal(book.get('my-burst')?.updatedBy, 'alice');
  assert.equal(book.origin('my-burst'), 'custom');
  assert.equal(book.get('hourly-volume')?.enabled, false, 'a disabled rule is listed, enabled false');
  assert.equal(book.rules().length, DEFAULT_RULES.length + 1);
  assert.equal(book.version(), 3);

  const before = book.rules();
  assert.equal(book.rules(), before, 'the same array until something changes');
  await log.produce(TOPICS.rules, [ruleRemoval('burst', 'bob'), ruleRemoval('my-burst', 'bob')]);
  await eventually(() => book.version() === 5, 'both removals applied');
  assert.notEqual(book.rules(), before);
  assert.deepEqual({ ...book.get('burst') }, { ...burst }, 'the default as shipped');
  assert.equal(book.origin('burst'), 'default');
  assert.equal(book.get('my-burst'), undefined);
  assert.equal(book.origin('my-burst'), undefined);
  assert.equal(book.rules().length, DEFAULT_RULES.length);
  await log.produce(TOPICS.rules, [ruleRemoval('never-was', 'bob')]);
  await log.produce(TOPICS.rules, [ruleMessage({ ...mine, threshold: 7 })]);
  await eventually(() => book.get('my-burst')?.threshold === 7, 'the next change');
  assert.equal(book.version(), 6, 'removing what is not there changes nothing');
  await book.stop();
  await log.close();
});

test('poison goes to the DLQ and counts as no record for its id; the other rules keep working', async () => {
  const log = createMemoryEventLog();
  const tuned: Rule = { ...burst, threshold: 80, updatedAt: 2, updatedBy: 'bob' };
  await log.produce(TOPICS.rules, [
    ruleMessage(tuned),
    ruleMessage(mine),
    { key: 'garbage', value: Buffer.from('not avro') },
    // Valid bytes, an invalid rule: a window of 1 ms.
    { key: 'sensitive-files', value: codecs.Rule.encode({ ...(defaultRule('sensitive-files') as Rule), windowMs: 1 }) },
    // A rule under another rule's key.
    { key: 'other-id', value: codecs.Rule.encode(mine) },
    { key: null, value: codecs.Rule.encode(mine) },
    // Names every object inherits are no kinds; nor is a parameter named like one.
    { key: 'login-failures', value: codecs.Rule.encode({ ...(defaultRule('login-failures') as Rule), kind: 'toString' }) },
    { key: 'path-scan', value: codecs.Rule.encode({ ...(defaultRule('path-scan') as Rule), params: { constructor: 'x' } }) },
  ]);
  const book = await open(log);
  assert.equal(book.get('burst')?.threshold, 80, 'the other rules are applied');
  assert.equal(book.get('my-burst')?.threshold, 500);
  assert.deepEqual({ ...book.get('sensitive-files') }, { ...defaultRule('sensitive-files') }, 'the poisoned default is as shipped');
  assert.equal(book.origin('sensitive-files'), 'default');
  assert.equal(book.get('garbage'), undefined);
  assert.equal(book.get('other-id'), undefined);
  assert.equal(book.get('login-failures')?.kind, 'login_failures');
  assert.deepEqual({ ...book.get('path-scan')?.params }, { statuses: '404,403' });
  assert.equal(book.warnings.filter((w) => w.includes('goes to the DLQ')).length, 6, book.warnings.join('\n'));

  // Poison for a rule that has a record removes that record: every reader agrees, whenever it started.
  await log.produce(TOPICS.rules, [{ key: 'my-burst', value: codecs.Rule.encode({ ...mine, kind: 'nonsense' }) }]);
  await eventually(() => book.get('my-burst') === undefined, 'the poisoned custom rule is gone');
  assert.equal(book.get('burst')?.threshold, 80);

  let dlq: LogMessage[] = [];
  const end = Date.now() + 2000;
  while ((dlq = await dlqRecords(log)).length < 7 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(dlq.map((m) => m.key).sort(), ['garbage', 'login-failures', 'my-burst', 'other-id', 'path-scan', 'sensitive-files', null].sort());
  assert.match(dlq.find((m) => m.key === 'login-failures')?.headers[DLQ_HEADERS.error] ?? '', /kind "toString" is not one of request_rate/);
  for (const m of dlq) {
    assert.equal(m.headers[DLQ_HEADERS.sourceTopic], TOPICS.rules);
    assert.ok(m.headers[DLQ_HEADERS.error], 'the error travels with the record');
  }
  assert.match(dlq.find((m) => m.key === 'sensitive-files')?.headers[DLQ_HEADERS.error] ?? '', /window must be from 1s to 7d/);

  // A second reader beside the scorer (the api) files nothing again.
  const quiet = createRuleBook({ log, warn: () => {}, deadLetters: false });
  await quiet.ready;
  assert.equal(quiet.get('burst')?.threshold, 80);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await dlqRecords(log)).length, dlq.length);
  await quiet.stop();
  await book.stop();
  await log.close();
});

test('onChange: called with the rules in force after each record once ready, never during the first read; a failing handler is a warning', async () => {
  const log = createMemoryEventLog();
  await log.produce(TOPICS.rules, [ruleMessage(mine)]);
  const calls: (readonly Rule[])[] = [];
  const book = await open(log, (rules) => calls.push(rules));
  assert.equal(calls.length, 0, 'the first read is what ready is for');
  await log.produce(TOPICS.rules, [ruleMessage({ ...mine, threshold: 1 })]);
  await eventually(() => calls.length === 1, 'the first call');
  assert.equal(calls[0], book.rules());
  assert.equal(calls[0]?.find((r) => r.id === 'my-burst')?.threshold, 1);
  await log.produce(TOPICS.rules, [ruleRemoval('my-burst', 'x')]);
  await eventually(() => calls.length === 2, 'the second call');
  assert.equal(calls[1]?.some((r) => r.id === 'my-burst'), false);
  await book.stop();
  await log.produce(TOPICS.rules, [ruleMessage(mine)]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls.length, 2, 'a stopped book is told nothing');

  const warnings: string[] = [];
  const failing = createRuleBook({ log, warn: (m) => warnings.push(m), deadLetters: false, onChange: () => { throw new Error('boom'); } });
  await failing.ready;
  await log.produce(TOPICS.rules, [ruleMessage({ ...mine, threshold: 3 })]);
  await eventually(() => failing.get('my-burst')?.threshold === 3, 'applied despite the handler');
  assert.deepEqual(warnings, ['rules: the onChange handler failed']);
  await failing.stop();
  await log.close();
});
