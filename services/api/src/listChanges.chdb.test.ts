/**
 * Blocks through the api, on the in-process event log and chDB: blocks that sweep need
 * force, a target with a port is refused, and replacing a block says what it changes.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { startListsApi } from '../../../test/support/listsApi.ts';
import { assertRefused } from '../../../test/support/refusal.ts';


test('a block wider than /16 or /32, or of a range holding loopback or private space, is refused without force', async () => {
  const api = await startListsApi();
  const block = (body: Record<string, unknown>) => api.send('POST', '/api/blocks', body);
  assertRefused(await block({ target: '0.0.0.0/0' }), 'IPWATCH_BLOCK_TOO_WIDE', /0\.0\.0\.0\/0 is a \/0, wider than the \/16 .*loopback addresses \(127\.0\.0\.0\/8\).*repeat with --force \(api: "force": true\)/);
  assertRefused(await block({ target: '::/0' }), 'IPWATCH_BLOCK_TOO_WIDE', /::\/0 is a \/0, wider than the \/32 .*IPWATCH_BLOCK_MAX_PREFIX_V6.*loopback addresses \(::1\/128\)/);
  assertRefused(await block({ target: '198.0.0.0/15' }), 'IPWATCH_BLOCK_TOO_WIDE', /is a \/15/);
  assertRefused(await block({ target: '127.0.0.0/8' }), 'IPWATCH_BLOCK_TOO_WIDE', /holds loopback addresses/);
  assertRefused(await block({ target: '192.168.1.0/24' }), 'IPWATCH_BLOCK_TOO_WIDE', /holds private addresses \(192\.168\.0\.0\/16\)/);
  assertRefused(await block({ target: '0.0.0.0/0', force: 'yes' }), 'IPWATCH_BAD_DECISION', /force must be true or false/);
  assert.deepEqual(api.view.all('blocks'), [], 'nothing refused was blocked');

  assert.equal((await block({ target: '198.51.0.0/16' })).status, 201, 'a /16 is within the default');
  assert.equal((await block({ target: '127.0.0.2' })).status, 201, 'one address is what was meant');
  const forced = await block({ target: '0.0.0.0/0', force: true, reason: 'lockdown' });
  assert.equal(forced.status, 201, JSON.stringify(forced.body));
  assert.equal(api.view.get('blocks', '0.0.0.0/0')?.reason, 'lockdown');
  const audit = await api.send('GET', '/api/block-events?target=0.0.0.0/0');
  const [row] = (audit.body as { rows: { note: string }[] }).rows;
  assert.match(row?.note ?? '', /^forced past the sweep guard: 0\.0\.0\.0\/0 is a \/0, wider than the \/16/, 'the audit row says the block was forced');
  assert.equal((await block({ target: '10.1.0.0/24', force: true })).status, 201);
});

test('an allowlist entry wider than /8 or /16, which would switch blocking off for that much of the internet, needs force', async () => {
  const api = await startListsApi();
  const allow = (body: Record<string, unknown>) => api.send('POST', '/api/allowlist', body);
  assertRefused(await allow({ target: '0.0.0.0/0' }), 'IPWATCH_ALLOW_TOO_WIDE', /^refused: allowlisting 0\.0\.0\.0\/0 \(a \/0, wider than \/8\) would exempt it from every block and rate limit\. .*--force/);
  assertRefused(await allow({ target: '::/0' }), 'IPWATCH_ALLOW_TOO_WIDE', /a \/0, wider than \/16/);
  assertRefused(await allow({ target: '64.0.0.0/2' }), 'IPWATCH_ALLOW_TOO_WIDE', /a \/2/);
  assert.deepEqual(api.view.all('allow'), [], 'nothing refused was allowed');
  assert.equal((await allow({ target: '10.0.0.0/8', reason: 'office' })).status, 201, 'your own networks are what the allowlist is for');
  assert.equal((await allow({ target: '0.0.0.0/0', force: true, reason: 'maintenance' })).status, 201);
  assert.equal(api.view.get('allow', '0.0.0.0/0')?.reason, 'maintenance');
});

test('the widest block allowed without force is the api\'s configuration', async () => {
  const api = await startListsApi({ blockScope: { maxPrefixV4: 8, maxPrefixV6: 24 } });
  assert.equal((await api.send('POST', '/api/blocks', { target: '198.0.0.0/15' })).status, 201);
  assert.equal((await api.send('POST', '/api/blocks', { target: '2001:d00::/24' })).status, 201);
  assertRefused(await api.send('POST', '/api/blocks', { target: '8.0.0.0/7' }), 'IPWATCH_BLOCK_TOO_WIDE', /wider than the \/8/);
});

test('a target with a port is refused, never blocked as the address with a changed expiry', async () => {
  const api = await startListsApi();
  assert.equal((await api.send('POST', '/api/blocks', { target: '1.2.3.4', reason: 'scanner' })).status, 201);
  assertRefused(await api.send('POST', '/api/blocks', { target: '1.2.3.4:80', expires: '+1h' }), 'IPWATCH_INVALID_ADDRESS', /"1\.2\.3\.4:80" has a port: .*write the address alone \(1\.2\.3\.4\)/);
  assertRefused(await api.send('POST', '/api/blocks', { target: '[2001:db8::1]:443' }), 'IPWATCH_INVALID_ADDRESS', /has a port/);
  assert.equal(api.view.get('blocks', '1.2.3.4')?.expiresAt, null, 'the block that never expires is untouched');
});

test('replacing a block answers what it was and what it becomes', async () => {
  const api = await startListsApi();
  const first = await api.send('POST', '/api/blocks', { target: '203.0.113.7', reason: 'credential stuffing' });
  assert.equal(first.status, 201);
  assert.deepEqual([first.body.previous, first.body.changes], [null, []]);
  const second = await api.send('POST', '/api/blocks', { target: '203.0.113.7', expires: '+1h', reason: 'scanner', severity: 'high' });
  assert.equal(second.status, 200);
  const record = second.body.record as { expiresAt: number };
  assert.equal((second.body.previous as { expiresAt: unknown; reason: string }).expiresAt, null);
  assert.equal((second.body.previous as { reason: string }).reason, 'credential stuffing');
  assert.deepEqual(second.body.changes, [
    { field: 'expiresAt', was: null, becomes: record.expiresAt },
    { field: 'reason', was: 'credential stuffing', becomes: 'scanner' },
    { field: 'severity', was: 'medium', becomes: 'high' },
  ]);
  const allowed = await api.send('POST', '/api/allowlist', { target: '198.51.100.7', reason: 'office' });
  assert.deepEqual(allowed.body.changes, []);
  const reallowed = await api.send('POST', '/api/allowlist', { target: '198.51.100.7', reason: 'monitoring' });
  assert.deepEqual(reallowed.body.changes, [{ field: 'reason', was: 'office', becomes: 'monitoring' }]);
});

test('an import holding a range that sweeps is refused whole, naming it, unless forced', async () => {
  const api = await startListsApi();
  const refused = await api.send('POST', '/api/blocks/import', { targets: ['203.0.113.9', '0.0.0.0/0', '10.0.0.0/8'] });
  assertRefused(refused, 'IPWATCH_BLOCK_TOO_WIDE', /^nothing was imported: 2 target\(s\) would sweep: 0\.0\.0\.0\/0 is a \/0[^|]* \| 10\.0\.0\.0\/8 is a \/8[^|]*private addresses[^|]*\. Remove them, or repeat with --force/);
  assert.deepEqual(api.view.all('blocks'), []);
  const forced = await api.send('POST', '/api/blocks/import', { targets: ['203.0.113.9', '10.0.0.0/8'], force: true });
  assert.equal(forced.status, 201, JSON.stringify(forced.body));
  assert.equal(forced.body.imported, 2);
});

test('a change with a field the api does not take is refused, naming it, never made without it', async () => {
  const api = await startListsApi();
  assertRefused(await api.send('POST', '/api/blocks', { target: '203.0.113.8', expiry: '+1h' }), 'IPWATCH_UNKNOWN_PARAMETER', /^a block does not take the field "expiry" \(did you mean expires\?\): it takes target, reason, expires, severity, source, actor, force$/);
  assertRefused(await api.send('POST', '/api/allowlist', { target: '203.0.113.8', severity: 'high' }), 'IPWATCH_UNKNOWN_PARAMETER', /an allowlist entry does not take the field "severity"/);
  assertRefused(await api.send('POST', '/api/blocks/import', { targets: ['203.0.113.8'], source: 'feed', expire: '+1d' }), 'IPWATCH_UNKNOWN_PARAMETER', /an import does not take the fields "source", "expire" \(did you mean expires\?\)/);
  assert.deepEqual(api.view.all('blocks'), []);
  assert.deepEqual(api.view.all('allow'), []);
});
