import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readQuery, UnknownParameterError } from './queryParameters.ts';

const NAMES = ['ip', 'path', 'since', 'limit'] as const;
const read = (query: Record<string, unknown>) => readQuery(query, NAMES, 'GET /api/requests');

test('the parameters an endpoint takes come back as text; absent ones are left out', () => {
  assert.deepEqual(read({ ip: '203.0.113.7', limit: '5' }), { ip: '203.0.113.7', limit: '5' });
  assert.deepEqual(read({}), {});
  assert.deepEqual(readQuery(undefined, NAMES, 'GET /api/requests'), {});
});

test('a name the endpoint does not take is refused, named, with the names it takes and a near one', () => {
  assert.throws(
    () => read({ ipp: '1.2.3.4' }),
    (e: Error) => e instanceof UnknownParameterError && e.code === 'IPWATCH_UNKNOWN_PARAMETER' && e.message === 'GET /api/requests does not take the parameter "ipp" (did you mean ip?): it takes ip, path, since, limit, each once',
  );
  assert.throws(() => read({ 'ip[]': '1.2.3.4' }), /does not take the parameter "ip\[\]" \(write ip=value, once: there are no \[\] lists\)/);
  assert.throws(() => read({ IP: '1.2.3.4', colour: 'red' }), /does not take the parameters "IP" \(did you mean ip\?\), "colour": it takes/);
  assert.throws(() => readQuery({ x: '1' }, [], 'GET /api/status'), /GET \/api\/status does not take the parameter "x": it takes no parameters/);
});

test('a name given twice is refused, named, whatever the values', () => {
  assert.throws(
    () => read({ ip: ['1.2.3.4', '5.6.7.8'] }),
    (e: Error & { code?: string }) => e.code === 'IPWATCH_BAD_FILTER' && /GET \/api\/requests: ip is given 2 times: give it once \(a CIDR such as 203\.0\.113\.0\/24/.test(e.message),
  );
  assert.throws(() => read({ limit: ['5', '5'] }), /limit is given 2 times: give it once$/);
  assert.throws(() => read({ since: { a: '1' } }), /since is given as a structure: give it once/);
});
