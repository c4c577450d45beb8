/** Every GET endpoint with parameters refuses what it does not take, naming it: a filter never fails open. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { startListsApi } from '../../../test/support/listsApi.ts';
import { assertRefused } from '../../../test/support/refusal.ts';


test('GET /api/requests: ip[]=, a repeated ip, an unknown ipp and an impossible date are 400s naming the parameter', async () => {
  const api = await startListsApi();
  const get = (query: string) => api.send('GET', `/api/requests?${query}`);
  assertRefused(await get('ip[]=1.2.3.4'), 'IPWATCH_UNKNOWN_PARAMETER', /GET \/api\/requests does not take the parameter "ip\[\]" \(write ip=value, once/);
  assertRefused(await get('ip=1.2.3.4&ip=5.6.7.8'), 'IPWATCH_BAD_FILTER', /ip is given 2 times: give it once/);
  assertRefused(await get('ipp=1.2.3.4'), 'IPWATCH_UNKNOWN_PARAMETER', /does not take the parameter "ipp" \(did you mean ip\?\): it takes ip, path, status, country, since, until, limit/);
  assertRefused(await get('since=2026-02-30'), 'IPWATCH_BAD_FILTER', /--since "2026-02-30" is not a real date/);
  assertRefused(await get('ip='), 'IPWATCH_BAD_FILTER', /--ip is empty/);
  assertRefused(await get('ip=1.2.3.4:80'), 'IPWATCH_BAD_FILTER', /has a port/);
  const ok = await get('ip=1.2.3.4&since=2026-02-28&limit=5');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
});

test('GET /api/blocks, /api/allowlist and /api/block-events, and DELETE, refuse unknown and repeated parameters alike', async () => {
  const api = await startListsApi();
  for (const path of ['/api/blocks', '/api/allowlist']) {
    assertRefused(await api.send('GET', `${path}?cover=203.0.113.7`), 'IPWATCH_UNKNOWN_PARAMETER', new RegExp(`GET ${path} does not take the parameter "cover" \\(did you mean covers\\?\\): it takes expired, covers, limit`));
    assertRefused(await api.send('GET', `${path}?covers=1.2.3.4&covers=5.6.7.8`), 'IPWATCH_BAD_FILTER', /covers is given 2 times/);
    assertRefused(await api.send('GET', `${path}?expired=yes`), 'IPWATCH_BAD_FILTER', /expired "yes" must be true or false/);
    assertRefused(await api.send('GET', `${path}?covers=203.0.113.7:80`), 'IPWATCH_INVALID_ADDRESS', /has a port/);
    assert.equal((await api.send('GET', `${path}?covers=203.0.113.7&expired=false&limit=10`)).status, 200);
  }
  assertRefused(await api.send('DELETE', '/api/blocks?target=203.0.113.7&force=true'), 'IPWATCH_UNKNOWN_PARAMETER', /DELETE \/api\/blocks does not take the parameter "force"/);
  assertRefused(await api.send('GET', '/api/block-events?targets=203.0.113.7'), 'IPWATCH_UNKNOWN_PARAMETER', /does not take the parameter "targets" \(did you mean target\?\): it takes target, limit/);
  assertRefused(await api.send('GET', '/api/block-events?limit=1&limit=2'), 'IPWATCH_BAD_FILTER', /limit is given 2 times/);
  assert.equal((await api.send('GET', '/api/block-events?target=203.0.113.7&limit=5')).status, 200);
});
