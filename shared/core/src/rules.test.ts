import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { codecs } from './schemas.ts';
import { DEFAULT_RULES, blockDurationFor, decodeRuleRecord, describeAction, effectiveRules, parseStatuses, ruleMessage, validateRule, type Rule } from './rules.ts';

const base = DEFAULT_RULES.find((r) => r.id === 'sensitive-files') as Rule;

test('every default rule is valid and survives the wire', () => {
  assert.ok(DEFAULT_RULES.length >= 12);
  for (const r of DEFAULT_RULES) {
    validateRule(r);
    const back = decodeRuleRecord({ topic: 't', ...ruleMessage(r) });
    assert.deepEqual({ ...back.rule }, r);
  }
  // The Django app's three, and short bursts.
  for (const id of ['hourly-volume', 'sensitive-paths', 'error-ratio', 'burst']) assert.ok(DEFAULT_RULES.some((r) => r.id === id), id);
});

test('a bad rule is refused naming what is wrong', () => {
  const bad = (patch: Partial<Rule>, message: RegExp) => assert.throws(() => validateRule({ ...base, ...patch }), (e: Error & { code?: string }) => e.code === 'IPWATCH_INVALID_RULE' && message.test(e.message));
  bad({ id: 'Bad Id' }, /id must be lower case/);
  bad({ kind: 'nonsense' }, /kind "nonsense" is not one of request_rate/);
  bad({ windowMs: 10 }, /window must be from 1s to 7d/);
  bad({ threshold: -1 }, /threshold/);
  bad({ params: { ...base.params, patterns: '(' } }, /patterns? .*not a regular expression/);
  bad({ params: { ...base.params, patterns: '(a+)+$' } }, /nests a quantifier/);
  bad({ params: { ...base.params, colour: 'red' } }, /takes no parameter "colour" \(it takes field, patterns, statuses, ignorePaths\)/);
  bad({ params: { field: 'path' } }, /needs the parameter patterns/);
  bad({ kind: 'error_ratio', threshold: 1.5, params: {} }, /share below 1/);
  bad({ escalation: [5] }, /escalation/);
});

test('poison on the rules topic is a DecodeError (for the DLQ), a tombstone is a removal', () => {
  assert.throws(() => decodeRuleRecord({ topic: 't', key: 'x', value: Buffer.from('nope') }), { name: 'DecodeError' });
  const invalid = codecs.Rule.encode({ ...base, windowMs: 1 });
  assert.throws(() => decodeRuleRecord({ topic: 't', key: base.id, value: invalid }), /window must be/);
  assert.throws(() => decodeRuleRecord({ topic: 't', key: 'other', value: codecs.Rule.encode(base) }), /under key "other"/);
  assert.deepEqual(decodeRuleRecord({ topic: 't', key: 'x', value: null }), { id: 'x', rule: null });
});

test('escalation, actions and the rules in force', () => {
  assert.equal(blockDurationFor(base, 1), 3_600_000);
  assert.equal(blockDurationFor(base, 2), 4 * 3_600_000);
  assert.equal(blockDurationFor(base, 99), 7 * 86_400_000, 'the last step repeats');
  assert.equal(blockDurationFor({ escalation: [], blockForMs: 5000 }, 3), 5000);
  assert.equal(describeAction(base), 'block 1h, then 4h, then 1d, then 7d');
  assert.equal(describeAction({ ...base, mode: 'dry_run', autoBlock: false }), 'dry run (records; would flag)');
  const disabled = { ...base, enabled: false };
  const mine = { ...base, id: 'my-rule' };
  const rules = effectiveRules(new Map([[base.id, disabled], ['my-rule', mine]]));
  assert.equal(rules.length, DEFAULT_RULES.length + 1);
  assert.equal(rules.find((r) => r.id === base.id)?.enabled, false);
  const is4xx = parseStatuses('4xx,500');
  assert.deepEqual([404, 451, 500, 503, 200].map(is4xx), [true, true, true, false, false]);
});
