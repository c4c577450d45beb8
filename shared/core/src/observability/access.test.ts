import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { loadConfig } from '../config.ts';

test('loadConfig: IPWATCH_METRICS_TOKEN and IPWATCH_METRICS_ALLOW read, loopback only by default', () => {
  assert.deepEqual(loadConfig({}).metricsAccess, { token: null, allow: [] });
  const config = loadConfig({ IPWATCH_METRICS_TOKEN: ' scrape-token-0123456789abcdef-0123456789 ', IPWATCH_METRICS_ALLOW: 'sink, 10.0.0.0/8,,2001:db8::/32' });
  assert.deepEqual(config.metricsAccess, { token: 'scrape-token-0123456789abcdef-0123456789', allow: ['sink', '10.0.0.0/8', '2001:db8::/32'] });
});

test('loadConfig: a short token or a bad allow entry stops the service, naming the variable', () => {
  assert.throws(() => loadConfig({ IPWATCH_METRICS_TOKEN: 'short' }), /IPWATCH_METRICS_TOKEN must be at least 32 characters/);
  assert.throws(() => loadConfig({ IPWATCH_METRICS_TOKEN: 'a token with spaces in it, long enough otherwise' }), /IPWATCH_METRICS_TOKEN must be/);
  assert.throws(() => loadConfig({ IPWATCH_METRICS_ALLOW: 'sink,10.0.0.1/8' }), /IPWATCH_METRICS_ALLOW: "10.0.0.1\/8" has host bits set/);
  assert.throws(() => loadConfig({ IPWATCH_METRICS_ALLOW: 'http://prometheus:9090' }), /IPWATCH_METRICS_ALLOW: "http:\/\/prometheus:9090" is neither a host name/);
});
