import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHostGuard, hostNameOf, isLoopbackHost, parseHostAllowEntry } from './hostGuard.ts';

test('isLoopbackHost: 127.0.0.1, localhost and [::1], with or without a port; no name that merely starts like one', () => {
  for (const host of ['127.0.0.1', '127.0.0.1:9464', 'localhost', 'LocalHost:7070', '[::1]', '[::1]:9464']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of [undefined, '', 'attacker.example', 'localhost.attacker.example', '127.0.0.1.nip.io', '::1', '127.0.0.2', 'localhost:', 'localhost:9464:1']) {
    assert.equal(isLoopbackHost(host), false, String(host));
  }
});

test('hostNameOf: the name or address without port or brackets, lower-cased; null for what is not host[:port]', () => {
  assert.equal(hostNameOf('Sink.Example:9464'), 'sink.example');
  assert.equal(hostNameOf('[2001:DB8::1]:9464'), '2001:db8::1');
  assert.equal(hostNameOf('10.0.0.5'), '10.0.0.5');
  for (const bad of [undefined, '', 'a:b:c', '[::1', 'host:99999999']) assert.equal(hostNameOf(bad), null, String(bad));
});

test('parseHostAllowEntry: addresses and CIDRs are client networks, other entries must be host names', () => {
  assert.deepEqual(parseHostAllowEntry('Sink.monitoring.svc'), { kind: 'name', name: 'sink.monitoring.svc' });
  assert.deepEqual(parseHostAllowEntry('ipwatch_sink_1'), { kind: 'name', name: 'ipwatch_sink_1' });
  assert.deepEqual(parseHostAllowEntry('10.0.0.0/8'), { kind: 'network', cidr: { version: 4, network: 10n << 24n, prefix: 8 } });
  assert.deepEqual(parseHostAllowEntry('10.0.0.7'), { kind: 'network', cidr: { version: 4, network: (10n << 24n) + 7n, prefix: 32 } });
  assert.match(parseHostAllowEntry('10.0.0.1/8') as string, /host bits set: did you mean 10\.0\.0\.0\/8/);
  assert.match(parseHostAllowEntry('http://sink') as string, /neither a host name .* nor an IP address or CIDR/);
  assert.match(parseHostAllowEntry('sink:9464') as string, /neither a host name/);
});

test('createHostGuard: names match the Host; networks match the client, only when it addresses the server by IP or a listed name', () => {
  const guard = createHostGuard(['sink', '10.0.0.0/8', '2001:db8::/32']);
  assert.equal(guard.hostIsOurs('sink:9464'), true);
  assert.equal(guard.hostIsOurs('localhost:9464'), true);
  assert.equal(guard.hostIsOurs('sink.attacker.example'), false);
  assert.equal(guard.clientIsAllowed('10.1.2.3:9464', '10.9.9.9'), true);
  assert.equal(guard.clientIsAllowed('10.1.2.3:9464', '::ffff:10.9.9.9'), true, 'IPv4-mapped socket addresses count as IPv4');
  assert.equal(guard.clientIsAllowed('[2001:db8::5]:9464', '2001:db8::9'), true);
  assert.equal(guard.clientIsAllowed('sink:9464', '10.9.9.9'), true);
  assert.equal(guard.clientIsAllowed('attacker.example', '10.9.9.9'), false, 'a rebinding page inside the network still sends its own name');
  assert.equal(guard.clientIsAllowed('10.1.2.3:9464', '192.0.2.1'), false);
  assert.equal(guard.clientIsAllowed('10.1.2.3:9464', undefined), false);
  assert.equal(createHostGuard([]).clientIsAllowed('127.0.0.1', '127.0.0.1'), false);
  assert.throws(() => createHostGuard(['not a name']), /bad allow-list entry/);
});
