/** A weak token stops `ipwatch run api` and `npm start` (ipwatch dev) before anything starts, saying how to make a good one. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { runCli } from './support/cli.ts';

test('a weak IPWATCH_API_TOKEN fails ipwatch run api and ipwatch dev at start: IPWATCH_CONFIG_INVALID, exit 2, how to make one', async () => {
  for (const args of [['run', 'api'], ['dev', '--duration', '1', '--port', '0']]) {
    // A bounded wait: a command that took the token would run on, and is killed after it.
    const res = await runCli(args, { IPWATCH_API_TOKEN: 'x', IPWATCH_API_PORT: '0', IPWATCH_METRICS_PORT: '0' }, undefined, 20_000);
    assert.equal(res.code, 2, `ipwatch ${args.join(' ')} exits 2:\n${res.stderr}`);
    assert.match(res.stderr, /IPWATCH_API_TOKEN is too weak: its secret has 1 character; at least 32 are needed; make one with `openssl rand -hex 32`/);
    assert.doesNotMatch(res.stderr, /\bat .*\.ts:\d+/, 'a message, not a stack');
    assert.doesNotMatch(res.stdout, /running|api {2,}http/, 'nothing started');
  }
}, 60_000);
