/** Who the api says made a change, and how it treats tokens: the real api service, its lists and its audit trail in chDB. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { loadConfig } from '@ipwatch/core/config';
import { createMemoryEventLog } from '@ipwatch/core/eventLog/memory';
import { createHealth } from '@ipwatch/core/observability/health';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { listBlockEvents } from '@ipwatch/store';
import { testAnalytics } from '../../../test/support/analytics.ts';
import { afterThisTest } from '../../../test/support/afterThisTest.ts';
import { startApiService } from './main.ts';
import { createApiApp } from './apiServer.ts';

/** Secrets as `openssl rand -hex 32` makes them. */
const OPS = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';
const SCORER = '9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e';

async function startApi(env: Record<string, string> = {}) {
  const log = createMemoryEventLog();
  const metrics = createMetrics('api');
  const config = loadConfig({ IPWATCH_API_PORT: '0', ...env });
  const api = await startApiService({ config, log, health: createHealth(), metrics: createMetrics, warn: () => {} }, await testAnalytics(), { metrics });
  afterThisTest(async () => {
    await api.stop();
    await log.close();
  });
  return { api, metrics, port: api.port };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: string; code?: string; record?: { createdBy: string; source?: string }; rows?: unknown[] };
}

/** A raw request, so the test picks the Authorization header as written and the client address it comes from. */
function call(port: number, method: string, path: string, options: { auth?: string; body?: unknown; from?: string } = {}): Promise<Answer> {
  const text = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...(options.auth !== undefined && { authorization: options.auth }), ...(text !== undefined && { 'content-type': 'application/json' }) };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, ...(options.from && { localAddress: options.from }) }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(data) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

async function auditOf(target: string) {
  return listBlockEvents(await testAnalytics(), { target });
}

test('under a token the audit actor is the token\'s name; the actor a caller states is only a labelled note', async () => {
  const { port } = await startApi({ IPWATCH_API_TOKEN: `ops:${OPS}` });
  const blocked = await call(port, 'POST', '/api/blocks', { auth: `Bearer ${OPS}`, body: { target: '203.0.113.41', reason: 'probe', actor: 'alice@security-team', source: 'manual' } });
  assert.equal(blocked.status, 201, JSON.stringify(blocked.body));
  assert.equal(blocked.body.record?.createdBy, 'ops', 'the list entry names the token, not alice');
  // The variable's whole value (name:secret) is taken as the bearer too: the CLI sends it as set.
  const unblocked = await call(port, 'DELETE', '/api/blocks?target=203.0.113.41&actor=mallory', { auth: `Bearer ops:${OPS}` });
  assert.equal(unblocked.status, 200, JSON.stringify(unblocked.body));
  const audit = await auditOf('203.0.113.41');
  assert.deepEqual(audit.map((r) => [r.action, r.actor, r.note]), [
    ['unblock', 'ops', 'stated by caller: mallory'],
    ['block', 'ops', 'stated by caller: alice@security-team'],
  ]);

  const allowed = await call(port, 'POST', '/api/allowlist', { auth: `Bearer ${OPS}`, body: { target: '192.0.2.41' } });
  assert.equal(allowed.status, 201);
  assert.deepEqual((await auditOf('192.0.2.41')).map((r) => [r.action, r.actor, r.note]), [['allow', 'ops', '']], 'no stated actor, no note');
});

test('on loopback without a token the audit actor is local, whatever the caller states', async () => {
  const { port } = await startApi();
  const imported = await call(port, 'POST', '/api/blocks/import', { body: { targets: ['203.0.113.42'], actor: 'root@somewhere-else' } });
  assert.equal(imported.status, 201, JSON.stringify(imported.body));
  const audit = await auditOf('203.0.113.42');
  assert.deepEqual(audit.map((r) => [r.action, r.actor, r.note, r.source]), [['block', 'local', 'stated by caller: root@somewhere-else', 'import']]);
});

test('a rule source is refused without the scorer\'s token (403, coded), and taken with it', async () => {
  const { port } = await startApi({ IPWATCH_API_TOKEN: OPS, IPWATCH_SCORER_TOKEN: SCORER });
  const forged = await call(port, 'POST', '/api/blocks', { auth: `Bearer ${OPS}`, body: { target: '203.0.113.43', source: 'scorer' } });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.code, 'IPWATCH_RESERVED_SOURCE');
  assert.match(forged.body.error ?? '', /only the scorer's own token \(IPWATCH_SCORER_TOKEN\) may block in a rule's name: leave source out/);
  assert.deepEqual((await call(port, 'GET', '/api/blocks', { auth: `Bearer ${OPS}` })).body.rows, [], 'nothing was blocked');
  assert.deepEqual(await auditOf('203.0.113.43'), []);

  const byRule = await call(port, 'POST', '/api/blocks', { auth: `Bearer ${SCORER}`, body: { target: '203.0.113.43', source: 'login-bruteforce', reason: '40 failed logins in 1m' } });
  assert.equal(byRule.status, 201, JSON.stringify(byRule.body));
  assert.deepEqual([byRule.body.record?.createdBy, byRule.body.record?.source], ['scorer', 'login-bruteforce']);
  assert.deepEqual((await auditOf('203.0.113.43')).map((r) => [r.actor, r.source]), [['scorer', 'login-bruteforce']]);

  // Without any token, loopback callers may not either.
  const local = await startApi();
  assert.equal((await call(local.port, 'POST', '/api/blocks', { body: { target: '203.0.113.44', source: 'scanner' } })).body.code, 'IPWATCH_RESERVED_SOURCE');
  assert.equal((await call(local.port, 'POST', '/api/blocks', { body: { target: '203.0.113.44', source: 'manual' } })).status, 201);
});

test('the Bearer scheme name is case-insensitive (RFC 7235); other schemes are no token', async () => {
  const { port } = await startApi({ IPWATCH_API_TOKEN: OPS });
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    assert.equal((await call(port, 'GET', '/api/status', { auth: `${scheme} ${OPS}` })).status, 200, scheme);
  }
  const basic = await call(port, 'GET', '/api/status', { auth: `Basic ${OPS}` });
  assert.equal(basic.status, 401);
  assert.equal(basic.headers['www-authenticate'], 'Bearer');
});

test('repeated wrong tokens from one client are slowed: 429 with Retry-After, even for the right token, counted in a metric', async () => {
  const { port, metrics } = await startApi({ IPWATCH_API_TOKEN: OPS });
  const wrong = `Bearer ${SCORER}`;
  for (let i = 0; i < 10; i++) assert.equal((await call(port, 'GET', '/api/status', { auth: wrong })).status, 401, `attempt ${i + 1}`);
  const slowed = await call(port, 'GET', '/api/status', { auth: `Bearer ${OPS}` });
  assert.equal(slowed.status, 429);
  assert.equal(slowed.body.code, 'IPWATCH_AUTH_THROTTLED');
  assert.match(slowed.body.error ?? '', /too many wrong API tokens from this address: wait \d+ s/);
  const retryAfter = Number(slowed.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${String(slowed.headers['retry-after'])}`);
  // Another client (another loopback address) is not slowed by this one's failures.
  assert.equal((await call(port, 'GET', '/api/status', { auth: `Bearer ${OPS}`, from: '127.0.0.2' })).status, 200);
  assert.equal((await call(port, 'GET', '/api/status', { from: '127.0.0.2' })).status, 401);

  const text = await metrics.text();
  assert.match(text, /^ipwatch_api_auth_refusals_total\{reason="wrong_token",service="api"\} 10$/m);
  assert.match(text, /^ipwatch_api_auth_refusals_total\{reason="throttled",service="api"\} 1$/m);
  assert.match(text, /^ipwatch_api_auth_refusals_total\{reason="missing_token",service="api"\} 1$/m);
});

test('the api refuses a weak token itself, whoever builds it, without quoting it', async () => {
  const analytics = await testAnalytics();
  assert.throws(() => createApiApp({ analytics, token: 'hunter2-hunter2' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'IPWATCH_CONFIG_INVALID');
    assert.match(err.message, /IPWATCH_API_TOKEN is too weak: its secret has 15 characters; at least 32 are needed; make one with `openssl rand -hex 32`/);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.throws(() => createApiApp({ analytics, token: OPS, scorerToken: 'x' }), /IPWATCH_SCORER_TOKEN is too weak/);
});
