import assert from 'node:assert/strict';
import { test } from '@jest/globals';
import type { Detection } from '@ipwatch/core/schemas';
import { atLeast, blockAlert, detectionAlert, fold, networkOf } from './alerts.ts';

function detection(ip: string, over: Partial<Detection> = {}, evidence: Record<string, string> = {}): Detection {
  return {
    id: `id-${ip}-${over.rule ?? 'sensitive-files'}`, ts: 1_000, ip, rule: 'sensitive-files', severity: 'high', score: 2, windowStart: 0, windowEnd: 1_000,
    evidence: { summary: 'matching requests: 2 in 10m (more than 1)', ...evidence }, action: 'block', client: ip, mode: 'live', count: 2, threshold: 1, blockExpiresAt: 3_601_000, offence: 1, ...over,
  };
}

test('networkOf: the /24 of IPv4, the /48 of IPv6, wide ranges as they are', () => {
  assert.equal(networkOf('203.0.113.7'), '203.0.113.0/24');
  assert.equal(networkOf('2001:db8:1:2::/64'), '2001:db8:1::/48');
  assert.equal(networkOf('2001:db8:1:2::9'), '2001:db8:1::/48');
  assert.equal(networkOf('10.0.0.0/8'), '10.0.0.0/8');
  assert.equal(networkOf('not an ip'), '');
});

test('a detection becomes an alert that names who, where, what was done and links to the client', () => {
  const a = detectionAlert(detection('2001:db8:1:2::/64', { ip: '2001:db8:1:2::9' }, { country: 'DE', asn: '3320', org: 'Deutsche Telekom AG' }), 'https://dash.example.com');
  assert.equal(a.action, 'blocked');
  assert.equal(a.blockedUntil, 3_601_000);
  assert.deepEqual(a.subjects, [{ client: '2001:db8:1:2::/64', ip: '2001:db8:1:2::9', network: '2001:db8:1::/48', country: 'DE', asn: 3320, org: 'Deutsche Telekom AG' }]);
  assert.equal(a.url, 'https://dash.example.com/clients/2001%3Adb8%3A1%3A2%3A%3A%2F64');
  assert.equal(detectionAlert(detection('192.0.2.1', { action: 'none', mode: 'dry_run' }), 'x').action, 'dry-run');
  assert.equal(detectionAlert(detection('192.0.2.1', { action: 'alert' }), 'x').blockedUntil, null);
  const b = blockAlert('192.0.2.0/24', { target: '192.0.2.0/24', reason: 'honeypot', source: 'manual', severity: 'critical', createdAt: 5, expiresAt: null, createdBy: 'alice' }, 'x');
  assert.equal(b.id, 'block:192.0.2.0/24:5');
  assert.equal(b.actor, 'alice');
});

test('fold: three clients of one rule in one /24 are one alert; two are not; another rule is another alert', () => {
  const url = 'https://d';
  const same = ['198.51.100.1', '198.51.100.2', '198.51.100.3'].map((ip) => detectionAlert(detection(ip), url));
  const pair = ['203.0.113.1', '203.0.113.2'].map((ip) => detectionAlert(detection(ip), url));
  const other = detectionAlert(detection('198.51.100.4', { rule: 'burst', severity: 'critical' }), url);
  const out = fold([...same, ...pair, other], 3);
  assert.equal(out.length, 4);
  const folded = out.find((g) => g.members.length === 3)!;
  assert.deepEqual(folded.alert.foldedBy, { by: 'network', value: '198.51.100.0/24' });
  assert.deepEqual(folded.alert.subjects.map((s) => s.ip), ['198.51.100.1', '198.51.100.2', '198.51.100.3']);
  assert.match(folded.alert.summary, /^3 clients of network 198\.51\.100\.0\/24: /);
  assert.match(folded.alert.id, /^fold:[0-9a-f]{32}$/);
  assert.equal(fold([...same].reverse(), 3)[0]!.alert.id, folded.alert.id, 'the same members fold to the same id, whatever their order');
});

test('fold by ASN when the addresses are spread over networks; the highest severity and the longest block win', () => {
  const alerts = ['192.0.2.9', '198.51.100.9', '203.0.113.9'].map((ip, i) =>
    detectionAlert(detection(ip, { severity: i === 1 ? 'critical' : 'high', blockExpiresAt: 10_000 * (i + 1) }, { asn: '64500', org: 'Example Hosting' }), 'u'),
  );
  const [g, ...rest] = fold(alerts, 3);
  assert.equal(rest.length, 0);
  assert.deepEqual(g!.alert.foldedBy, { by: 'asn', value: 'AS64500' });
  assert.equal(g!.alert.severity, 'critical');
  assert.equal(g!.alert.blockedUntil, 30_000);
});

test('atLeast orders severities', () => {
  assert.ok(atLeast('critical', 'high'));
  assert.ok(atLeast('high', 'high'));
  assert.ok(!atLeast('medium', 'high'));
});
