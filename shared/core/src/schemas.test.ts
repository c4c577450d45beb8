import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import type avro from 'avsc';
import { codecs, DecodeError, readSchema, SCHEMA_NAMES, type RequestEvent } from './schemas.ts';
import { checkRepositorySchemas, compareSchemas } from './schemaCompat.ts';

const event: RequestEvent = {
  id: '7d1c', ts: 1_763_900_000_123, ip: '2001:db8::1', ipAnonymisation: 'off', app: 'shop', instance: 'h:1',
  method: 'GET', host: 'example.com', path: '/ü?q=1', status: 200, latencyMs: 1.25, bytes: 512,
  userAgent: 'ua', referer: '', userId: 'u1', authenticated: true, blocked: false, rateLimited: false, login: 'failed', loginUser: 'alice', network: null,
};

test('every topic value round-trips through its codec', () => {
  assert.deepEqual({ ...codecs.RequestEvent.decode(codecs.RequestEvent.encode(event)) }, event);
  const enriched = { request: event, geo: { country: 'DE', region: 'Berlin', city: 'Berlin', latitude: 52.5, longitude: 13.4, asn: 3320, org: 'DTAG', source: 'offline' }, enrichedAt: 5 };
  const back = codecs.EnrichedRequest.decode(codecs.EnrichedRequest.encode(enriched));
  assert.equal(back.geo.city, 'Berlin');
  assert.equal(back.request.path, '/ü?q=1');
  const block = { target: '10.0.0.0/8', reason: 'scan', source: 'manual', severity: 'high' as const, createdAt: 1, expiresAt: null, createdBy: 'cli' };
  assert.deepEqual({ ...codecs.BlockDecision.decode(codecs.BlockDecision.encode(block)) }, block);
});

test('garbage, truncated and padded bytes are DecodeErrors (DLQ material), never other throws', () => {
  const good = codecs.RequestEvent.encode(event);
  for (const bad of [Buffer.alloc(0), Buffer.from('{"json":true}'), good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([1, 2])]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])]) {
    assert.throws(() => codecs.RequestEvent.decode(bad), DecodeError);
  }
  assert.throws(() => codecs.RequestEvent.encode({ ...event, status: 'x' as unknown as number }));
});

test('the schemas in the repository are fully compatible with the released ones', () => {
  assert.deepEqual(checkRepositorySchemas(), []);
});

test('a new field without a default breaks compatibility, one with a default does not', () => {
  const released = SCHEMA_NAMES.map((n): [string, avro.Schema] => [n, readSchema(n)]);
  const withField = (field: Record<string, unknown>) =>
    released.map(([n, s]): [string, avro.Schema] => {
      if (n !== 'RequestEvent') return [n, s];
      const rec = s as { fields: unknown[] };
      return [n, { ...rec, fields: [...rec.fields, field] } as avro.Schema];
    });
  const broken = compareSchemas(released, withField({ name: 'tenant', type: 'string' }));
  // EnrichedRequest embeds RequestEvent, so it breaks too.
  assert.deepEqual(broken.map((p) => `${p.schema}:${p.direction}`).sort(), ['EnrichedRequest:backward', 'RequestEvent:backward']);
  for (const p of broken) assert.match(p.message, /tenant/);
  assert.deepEqual(compareSchemas(released, withField({ name: 'tenant', type: 'string', default: '' })), []);

  const retyped = released.map(([n, s]): [string, avro.Schema] => {
    if (n !== 'RateLimitEvent') return [n, s];
    const rec = s as { fields: Array<{ name: string }> };
    return [n, { ...rec, fields: rec.fields.map((f) => (f.name === 'limit' ? { ...f, type: 'string' } : f)) } as avro.Schema];
  });
  assert.ok(compareSchemas(released, retyped).some((p) => p.schema === 'RateLimitEvent'));
});

test('an event written by an older emitter (fields added since absent from its bytes) decodes with their defaults', async () => {
  const { default: avsc } = await import('avsc');
  const { readFileSync } = await import('node:fs');
  const released = JSON.parse(readFileSync(new URL('../../../schemas/released/RequestEvent.avsc', import.meta.url), 'utf8')) as avro.Schema;
  const current = readSchema('RequestEvent') as unknown as { fields: Array<{ name: string }> };
  // The first release, and the version before `network` (with login and loginUser).
  const beforeNetwork = { ...current, fields: current.fields.filter((f) => f.name !== 'network') } as unknown as avro.Schema;
  const { login, loginUser, network, ...firstRelease } = event;
  assert.deepEqual([login, loginUser, network], ['failed', 'alice', null]);
  const old = avsc.Type.forSchema(released, { registry: {} }).toBuffer(firstRelease);
  assert.deepEqual({ ...codecs.RequestEvent.decode(old) }, { ...firstRelease, login: 'none', loginUser: null, network: null });
  const previous = avsc.Type.forSchema(beforeNetwork, { registry: {} }).toBuffer({ ...firstRelease, login, loginUser });
  assert.deepEqual({ ...codecs.RequestEvent.decode(previous) }, event);
  // Still refused: bytes cut inside a field.
  assert.throws(() => codecs.RequestEvent.decode(previous.subarray(0, previous.length - 2)), DecodeError);
});
