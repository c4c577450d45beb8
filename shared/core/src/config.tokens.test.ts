import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseApiToken } from './config.ts';

/** A secret as `openssl rand -hex 32` makes one. */
const STRONG = '5f0c3a9e7b2d4f6180e9c7a5b3d1f2e4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4f6';

/** The problems loadConfig names for an environment, or [] when it takes it. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'IPWATCH_CONFIG_INVALID');
    return err.problems;
  }
}

test('a weak IPWATCH_API_TOKEN is refused with how to make a good one, and the secret is never echoed', () => {
  for (const weak of ['x', 's3cret-token-value', 'a'.repeat(40), 'ab'.repeat(20), `${'0123456789abcdef'.repeat(2)} spaced`, 'ops:short-secret']) {
    const problems = problemsOf({ IPWATCH_API_TOKEN: weak });
    assert.equal(problems.length, 1, `${JSON.stringify(weak)} is refused`);
    assert.match(problems[0]!, /^IPWATCH_API_TOKEN is too weak: .*openssl rand -hex 32.*randomBytes\(32\)/);
    if (weak.length > 3) assert.ok(!problems[0]!.includes(weak), 'the message does not quote the secret');
  }
  assert.match(problemsOf({ IPWATCH_API_TOKEN: 'x' })[0]!, /its secret has 1 character; at least 32 are needed/);
  assert.match(problemsOf({ IPWATCH_SCORER_TOKEN: 'x' })[0]!, /^IPWATCH_SCORER_TOKEN is too weak/);
});

test('a strong token is taken as given, with or without a name', () => {
  assert.equal(loadConfig({ IPWATCH_API_TOKEN: STRONG }).api.token, STRONG);
  assert.equal(loadConfig({ IPWATCH_API_TOKEN: ` ci:${STRONG} ` }).api.token, `ci:${STRONG}`, 'trimmed');
  assert.deepEqual(parseApiToken('IPWATCH_API_TOKEN', STRONG, 'admin'), { name: 'admin', secret: STRONG });
  assert.deepEqual(parseApiToken('IPWATCH_API_TOKEN', `ci-runner:${STRONG}`, 'admin'), { name: 'ci-runner', secret: STRONG });
  assert.deepEqual(loadConfig({}).api, { host: '127.0.0.1', port: 7070, token: null, scorerToken: null });
});

test('the scorer token must differ from the operators\' token, in secret and in name; "local" is no token name', () => {
  assert.match(problemsOf({ IPWATCH_API_TOKEN: STRONG, IPWATCH_SCORER_TOKEN: `scorer:${STRONG}` })[0]!, /IPWATCH_SCORER_TOKEN must differ from IPWATCH_API_TOKEN/);
  const other = STRONG.split('').reverse().join('');
  assert.match(problemsOf({ IPWATCH_API_TOKEN: `bot:${STRONG}`, IPWATCH_SCORER_TOKEN: `bot:${other}` })[0]!, /both named "bot"/);
  assert.deepEqual(loadConfig({ IPWATCH_API_TOKEN: STRONG, IPWATCH_SCORER_TOKEN: other }).api.scorerToken, other);
  assert.match(problemsOf({ IPWATCH_API_TOKEN: `local:${STRONG}` })[0]!, /named "local", the name the audit trail gives unauthenticated loopback requests/);
});
