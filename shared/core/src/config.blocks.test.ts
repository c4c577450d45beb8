import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.ts';

test('the widest block allowed without --force: /16 and /32 by default, configurable, validated', () => {
  assert.deepEqual(loadConfig({}).blocks, { maxPrefixV4: 16, maxPrefixV6: 32 });
  assert.deepEqual(loadConfig({ IPWATCH_BLOCK_MAX_PREFIX_V4: '8', IPWATCH_BLOCK_MAX_PREFIX_V6: '48' }).blocks, { maxPrefixV4: 8, maxPrefixV6: 48 });
  assert.throws(
    () => loadConfig({ IPWATCH_BLOCK_MAX_PREFIX_V4: '33', IPWATCH_BLOCK_MAX_PREFIX_V6: '/32' }),
    (e: Error) =>
      e instanceof ConfigError &&
      /IPWATCH_BLOCK_MAX_PREFIX_V4="33" is not a whole number from 0 to 32/.test(e.message) &&
      /IPWATCH_BLOCK_MAX_PREFIX_V6="\/32" is not a whole number from 0 to 128/.test(e.message),
  );
  assert.ok('IPWATCH_BLOCK_MAX_PREFIX_V4' in CONFIG_VARIABLES && 'IPWATCH_BLOCK_MAX_PREFIX_V6' in CONFIG_VARIABLES);
});
