/**
 * The detection rules through the api, on the in-process event log and chDB: list, show, set
 * (valid, invalid, an unknown field), create, the shorthands, reset, and who may change them.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DEFAULT_RULES, defaultRule, type Rule } from '@ipwatch/core/rules';
import { TOPICS } from '@ipwatch/core/topics';
import { createApiApp } from './apiServer.ts';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { startRulesApi } from '../../../test/support/rulesApi.ts';
import { assertRefused } from '../../../test/support/refusal.ts';

/** A token as `openssl rand -hex 32` makes one: the api refuses weaker ones. */
const TOKEN = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';
type View = Rule & { origin: string; action: string };

test('list: every rule in force with where it comes from and what it does; show: one, with its parameters\' docs', async () => {
  const api = await startRulesApi();
  const list = await api.send('GET', '/api/rules');
  assert.equal(list.status, 200);
  const rules = list.body.rules as View[];
  assert.deepEqual(rules.map((r) => r.id), DEFAULT_RULES.map((r) => r.id));
  const burst = rules.find((r) => r.id === 'burst');
  assert.equal(burst?.origin, 'default');
  assert.equal(burst?.action, 'block 10m, then 1h, then 1d');
  assert.equal(rules.find((r) => r.id === 'hourly-volume')?.action, 'flag');

  const shown = await api.send('GET', '/api/rules/sensitive-files');
  assert.equal(shown.status, 200);
  const rule = shown.body.rule as View;
  assert.equal(rule.kind, 'path_match');
  assert.equal(rule.params.field, 'path');
  assert.match(shown.body.kindDoc as string, /path, query or user agent matches one of the patterns/);
  const docs = shown.body.paramDocs as Record<string, string>;
  assert.deepEqual(Object.keys(docs), ['field', 'patterns', 'statuses', 'ignorePaths']);
  assert.match(docs.patterns ?? '', /one per line/);

  assertRefused(await api.send('GET', '/api/rules/burts'), 'IPWATCH_NO_SUCH_RULE', /^no rule has the id "burts" \(did you mean burst\?\): `ipwatch rules list` shows the ids$/);
  assertRefused(await api.send('GET', `/api/rules/${encodeURIComponent('x\n\u202e')}`), 'IPWATCH_NO_SUCH_RULE', /"x\\n\u202e"/);
  assertRefused(await api.send('GET', '/api/rules?kind=path_match'), 'IPWATCH_UNKNOWN_PARAMETER', /GET \/api\/rules does not take the parameter "kind"/);
  assertRefused(await api.send('GET', '/api/rules/burst/nothing'), 'IPWATCH_NO_SUCH_ENDPOINT');
});

test('set: a change is validated whole, made by the authenticated caller, applied before the answer, and says what changed', async () => {
  const api = await startRulesApi({ token: TOKEN });
  const put = await api.send('PUT', '/api/rules/burst', { threshold: 80, windowMs: 60_000, params: { ignorePaths: '/health,/api/poll' } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.applied, true);
  assert.equal(put.body.created, false);
  const rule = put.body.rule as View;
  assert.deepEqual([rule.threshold, rule.windowMs, rule.params.ignorePaths, rule.params.count, rule.origin, rule.updatedBy], [80, 60_000, '/health,/api/poll', 'pages', 'changed', 'admin']);
  assert.deepEqual(put.body.changes, [
    { field: 'windowMs', was: 10_000, becomes: 60_000 },
    { field: 'threshold', was: 50, becomes: 80 },
    { field: 'params.ignorePaths', was: null, becomes: '/health,/api/poll' },
  ]);
  assert.equal(api.rules.book.get('burst')?.threshold, 80, 'the api\'s book has it: the answer came after');
  assert.equal(api.rules.book.origin('burst'), 'changed');

  // A parameter set to null is removed; the rest is kept.
  const unset = await api.send('PUT', '/api/rules/burst', { params: { ignorePaths: null, exemptCrawlers: 'false' } });
  assert.equal(unset.status, 200, JSON.stringify(unset.body));
  assert.deepEqual({ ...(unset.body.rule as View).params }, { count: 'pages', exemptCrawlers: 'false' });
  // Nothing different: nothing written.
  const version = api.rules.book.version();
  const same = await api.send('PUT', '/api/rules/burst', { threshold: 80 });
  assert.deepEqual([same.status, same.body.changes, api.rules.book.version()], [200, [], version]);

  // Invalid: refused naming the field, and the rule in force is untouched.
  assertRefused(await api.send('PUT', '/api/rules/burst', { windowMs: 10 }), 'IPWATCH_INVALID_RULE', /the window must be from 1s to 7d/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { windowMs: '10m' }), 'IPWATCH_INVALID_RULE', /windowMs must be a whole number of milliseconds/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { severity: 'urgent' }), 'IPWATCH_INVALID_RULE', /severity must be one of low, medium, high, critical/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { kind: 'toString' }), 'IPWATCH_INVALID_RULE', /kind must be one of request_rate/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { params: { colour: 'red' } }), 'IPWATCH_INVALID_RULE', /a rule of kind request_rate takes no parameter "colour" \(it takes count, exemptCrawlers, ignorePaths\)/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { params: { constructor: 'x' } }), 'IPWATCH_INVALID_RULE', /takes no parameter "constructor"/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { params: { count: 7 } }), 'IPWATCH_INVALID_RULE', /parameter "count" must be text, or null/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { kind: 'distinct_paths' }), 'IPWATCH_INVALID_RULE', /a rule of kind distinct_paths takes no parameter "count", "exemptCrawlers" .*the kind changed from request_rate/);
  assertRefused(await api.send('PUT', '/api/rules/sensitive-files', { params: { patterns: '(a+)+$' } }), 'IPWATCH_INVALID_RULE', /nests a quantifier/);
  assertRefused(await api.send('PUT', '/api/rules/burst', {}), 'IPWATCH_INVALID_RULE', /nothing to change/);
  assertRefused(await api.send('PUT', '/api/rules/burst', [1]), 'IPWATCH_BAD_BODY');
  assertRefused(await api.send('PUT', '/api/rules/burst', 'threshold=1', { type: 'application/x-www-form-urlencoded' }), 'IPWATCH_NOT_JSON');
  // An unknown field: refused naming it, never made without it.
  assertRefused(await api.send('PUT', '/api/rules/burst', { threshold: 90, window: 60_000 }), 'IPWATCH_UNKNOWN_PARAMETER', /^a change of rule "burst" does not take the field "window" \(did you mean windowMs\?\): it takes kind, windowMs, threshold/);
  assertRefused(await api.send('PUT', '/api/rules/burst', { threshold: 90, updatedBy: 'mallory' }), 'IPWATCH_UNKNOWN_PARAMETER', /"updatedBy"/);
  assert.equal(api.rules.book.get('burst')?.threshold, 80);
  assert.equal(api.rules.book.version(), version, 'nothing refused was written');
});

test('set creates a custom rule (kind, window and threshold needed); the shorthands; reset restores a default and deletes a custom rule', async () => {
  const api = await startRulesApi();
  assertRefused(await api.send('PUT', '/api/rules/admin-probe', { threshold: 3 }), 'IPWATCH_INVALID_RULE', /rule "admin-probe" is new: to create it give kind and windowMs too/);
  assertRefused(await api.send('PUT', '/api/rules/burts', { severity: 'low' }), 'IPWATCH_NO_SUCH_RULE', /no rule has the id "burts" \(did you mean burst\?\); to create it, give kind, windowMs and threshold/);
  assertRefused(await api.send('PUT', '/api/rules/Bad_Id', { kind: 'login_failures', windowMs: 60_000, threshold: 3 }), 'IPWATCH_INVALID_RULE', /the id must be lower case/);
  assertRefused(await api.send('PUT', '/api/rules/admin-probe', { kind: 'path_match', windowMs: 600_000, threshold: 3 }), 'IPWATCH_INVALID_RULE', /needs the parameter patterns/);
  const created = await api.send('PUT', '/api/rules/admin-probe', { kind: 'path_match', windowMs: 600_000, threshold: 3, params: { field: 'path', patterns: '^/admin\n^/manage' }, description: 'admin\u001b[31m probes' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const rule = created.body.rule as View;
  assert.deepEqual(
    [rule.origin, rule.enabled, rule.mode, rule.severity, rule.autoBlock, rule.action, rule.description, rule.updatedBy, created.body.previous, created.body.applied],
    ['custom', true, 'live', 'medium', false, 'flag', 'admin [31m probes', 'local', null, true],
  );

  const disabled = await api.send('POST', '/api/rules/admin-probe/disable', {});
  assert.deepEqual([disabled.status, disabled.body.changes], [200, [{ field: 'enabled', was: true, becomes: false }]]);
  assert.deepEqual((await api.send('POST', '/api/rules/admin-probe/disable', {})).body.changes, [], 'disabled already');
  assert.equal(api.rules.book.get('admin-probe')?.enabled, false);
  assert.equal(((await api.send('POST', '/api/rules/admin-probe/enable', {})).body.rule as View).enabled, true);
  const dry = await api.send('POST', '/api/rules/burst/dry-run', {});
  assert.equal((dry.body.rule as View).action, 'dry run (records; would block 10m, then 1h, then 1d)');
  assert.equal(api.rules.book.get('burst')?.mode, 'dry_run');
  assert.equal(((await api.send('POST', '/api/rules/burst/live', {})).body.rule as View).mode, 'live');
  assertRefused(await api.send('POST', '/api/rules/nope/enable', {}), 'IPWATCH_NO_SUCH_RULE');
  assertRefused(await api.send('POST', '/api/rules/burst/enable', { reason: 'x' }), 'IPWATCH_UNKNOWN_PARAMETER', /takes no fields/);
  assertRefused(await api.send('POST', '/api/rules/burst/enable'), 'IPWATCH_NOT_JSON');

  const restored = await api.send('DELETE', '/api/rules/burst');
  assert.equal(restored.status, 200, JSON.stringify(restored.body));
  assert.deepEqual([restored.body.reset, restored.body.applied, (restored.body.rule as View).origin], ['restored', true, 'default']);
  assert.deepEqual({ ...api.rules.book.get('burst') }, { ...defaultRule('burst') });
  assert.deepEqual(restored.body.changes, [], 'dry-run then live: the same fields as shipped');
  const unchanged = await api.send('DELETE', '/api/rules/burst');
  assert.equal(unchanged.body.reset, 'unchanged');
  const deleted = await api.send('DELETE', '/api/rules/admin-probe');
  assert.deepEqual([deleted.body.reset, deleted.body.rule, (deleted.body.previous as Rule).id], ['deleted', null, 'admin-probe']);
  assert.equal(api.rules.book.get('admin-probe'), undefined);
  assertRefused(await api.send('DELETE', '/api/rules/admin-probe'), 'IPWATCH_NO_SUCH_RULE');
});

test('changes need an authenticated caller: without the token nothing is read or changed', async () => {
  const api = await startRulesApi({ token: TOKEN });
  assertRefused(await api.send('GET', '/api/rules', undefined, { token: null }), 'IPWATCH_BAD_TOKEN');
  assertRefused(await api.send('PUT', '/api/rules/burst', { enabled: false }, { token: null }), 'IPWATCH_BAD_TOKEN');
  assertRefused(await api.send('POST', '/api/rules/burst/disable', {}, { token: 'wrong' }), 'IPWATCH_BAD_TOKEN');
  assertRefused(await api.send('DELETE', '/api/rules/burst', undefined, { token: null }), 'IPWATCH_BAD_TOKEN');
  assert.equal(api.rules.book.get('burst')?.enabled, true);
  assert.equal(api.rules.book.version(), 0, 'nothing was written');
  const res = await fetch(`${api.base}/api/rules/burst/disable`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{}' });
  assert.equal(res.status, 403, 'a page of another origin cannot switch a rule off');
  assert.equal(api.rules.book.get('burst')?.enabled, true);
});

test('a change the rule book does not show in time is answered as written, applied false', async () => {
  const api = await startRulesApi({ confirmTimeoutMs: 50 });
  // Something else writes the same rule right after: the api's book never shows exactly the api's version.
  const produce = api.log.produce.bind(api.log);
  api.log.produce = async (topic, messages) => {
    await produce(topic, messages);
    if (topic === TOPICS.rules) await produce(topic, [{ ...messages[0]!, value: null }]);
  };
  const put = await api.send('PUT', '/api/rules/burst', { threshold: 70 });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual([put.body.applied, (put.body.rule as View).threshold, (put.body.rule as View).origin], [false, 70, 'changed']);
  assert.ok(api.warnings.some((w) => /rule burst was written to .* but not seen back within 50 ms/.test(w)), api.warnings.join('\n'));
});

test('an api without the event log answers 503 for the rules, saying which api to call', async () => {
  const server = createApiApp({ analytics: await testAnalytics(), token: null }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    for (const [method, path] of [['GET', '/api/rules'], ['GET', '/api/rules/burst'], ['DELETE', '/api/rules/burst']] as const) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      assertRefused({ status: res.status, body: (await res.json()) as { error?: string; code?: string } }, 'IPWATCH_LISTS_UNAVAILABLE', /cannot show or change the detection rules: use the api of `ipwatch dev` or `ipwatch run api`/);
    }
  } finally {
    server.close();
  }
});
