/** The successor Link of an unversioned path, and the document's error answers per status. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ERRORS } from '@ipwatch/core/errors';
import { codesWithStatus, OPENAPI, v1Operations } from './openapi.ts';
import { successorOf } from './versioning.ts';

test('the successor of a path is the same path under /api/v1, with nothing that could leave the Link\'s brackets', () => {
  assert.equal(successorOf('/blocks'), '/api/v1/blocks');
  assert.equal(successorOf('/clients/2001:db8::1/analysis'), '/api/v1/clients/2001:db8::1/analysis');
  assert.equal(successorOf('/clients/2001%3Adb8%3A%3A1/analysis'), '/api/v1/clients/2001%3Adb8%3A%3A1/analysis', 'an encoded path stays as sent');
  assert.equal(successorOf('/x>; rel="evil", <http://evil.example/'), '/api/v1/x%3E;%20rel=%22evil%22,%20%3Chttp://evil.example/');
  assert.equal(successorOf('/a\r\nSet-Cookie: x=1'), '/api/v1/a%0D%0ASet-Cookie:%20x=1');
  assert.doesNotMatch(successorOf('/\u00ff\u0000<>"` {}|\\^'), /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/);
});

test('each error status of the document lists the registry\'s codes of that status, and only those', () => {
  assert.ok(codesWithStatus(401).includes('IPWATCH_BAD_TOKEN'));
  assert.ok(codesWithStatus(401).every((code) => ERRORS[code].status === 401));
  assert.ok(codesWithStatus(400).includes('IPWATCH_BAD_FILTER'));
  assert.ok(!codesWithStatus(400).includes('IPWATCH_NOT_LISTED'));
  const responses = OPENAPI.components.responses as Record<string, { content: { 'application/json': { schema: { properties: { code: { enum: string[] } } } } } }>;
  for (const response of Object.values(responses)) {
    const codes = response.content['application/json'].schema.properties.code.enum;
    assert.ok(codes.length > 0);
    assert.equal(new Set(codes.map((c) => ERRORS[c as keyof typeof ERRORS].status)).size, 1, `${codes.join(', ')}: one status`);
  }
});

test('the operations are listed as METHOD /api/v1/path, each once', () => {
  const operations = v1Operations();
  assert.equal(operations[0], 'GET /api/v1/status');
  assert.ok(operations.includes('DELETE /api/v1/blocks'));
  assert.ok(operations.includes('POST /api/v1/rules/{id}/dry-run'));
  assert.equal(new Set(operations).size, operations.length);
});
