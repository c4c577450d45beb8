/** The parts of `ipwatch analyze` that need no api: its checks of the address and hours, the verdict line, the bars. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { address, detectionLines, hoursOf, hourBars, verdict, type AnalysisAnswer } from './analyze.ts';

const H = 3_600_000;

test('one address, canonical; a range, a port, a name, brackets, a zone or nothing are refused, coded', () => {
  assert.equal(address('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(address('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  for (const [text, code] of [['203.0.113.0/24', 'IPWATCH_INVALID_ADDRESS'], ['203.0.113.7:80', 'IPWATCH_INVALID_ADDRESS'], ['[2001:db8::1]', 'IPWATCH_INVALID_ADDRESS'], ['fe80::1%eth0', 'IPWATCH_INVALID_ADDRESS'], ['example.com', 'IPWATCH_INVALID_ADDRESS'], [undefined, 'IPWATCH_USAGE']] as const) {
    assert.throws(() => address(text), { code }, String(text));
  }
  assert.equal(hoursOf(), 24);
  assert.equal(hoursOf('720'), 720);
  for (const bad of ['0', '721', '1.5', '24h', '-1', '']) assert.throws(() => hoursOf(bad), { code: 'IPWATCH_BAD_FILTER' }, bad);
});

test('30 days of hours fold into at most 48 bars of whole hours, each within 80 columns; errors drawn with #', () => {
  const start = Date.parse('2026-11-01T00:00:00Z');
  const hourly = Array.from({ length: 720 }, (_, i) => ({ hour: start + i * H, requests: i === 700 ? 123_456 : i >= 690 && i < 705 ? 0 : i % 7, errors: i === 700 ? 61_728 : 0 }));
  const [title, ...bars] = hourBars(hourly);
  assert.equal(title, 'Requests per 15 hours (UTC; = answered, # errors)');
  assert.equal(bars.length, 48);
  for (const l of bars) assert.ok(l.length <= 80, JSON.stringify(l));
  const peak = bars.find((l) => l.includes('123456'))!;
  assert.match(peak, /^ {2}11-29 18:00 {2}#{20,21}={20,21} +123456 \(61728 err\)$/);
  assert.match(hourBars([{ hour: start, requests: 0, errors: 0 }])[1]!, /^ {2}11-01 00:00 +0$/);
});

test('the verdict: blocked until, by rule or person, of a range; allowlisted; not blocked; unknown', () => {
  const entry = { target: '203.0.113.7', source: 'sensitive-files', by: 'rule' as const, reason: '', severity: 'high', since: 0, until: Date.parse('2026-12-01T14:00:00Z'), createdBy: 'scorer', evidence: null };
  const answer = (blockedNow: AnalysisAnswer['blockedNow']) => ({ ip: '203.0.113.7', blockedNow }) as AnalysisAnswer;
  assert.equal(verdict(answer({ blocked: true, blocks: [entry], allowlisted: [] })), 'BLOCKED until 2026-12-01 14:00 UTC by rule sensitive-files');
  assert.equal(
    verdict(answer({ blocked: true, blocks: [{ ...entry, target: '203.0.113.0/24', by: 'person', source: 'manual', createdBy: 'alice\u001b[2J', until: null }], allowlisted: [] })),
    'BLOCKED (never expires) by alice\uFFFD[2J (manual) (block of 203.0.113.0/24)',
  );
  assert.equal(verdict(answer({ blocked: false, blocks: [entry], allowlisted: [{ ...entry, target: '203.0.113.0/24', by: 'person', source: null, createdBy: 'bob' }] })), 'ALLOWLISTED by bob (203.0.113.0/24): 1 block(s) covering it do not apply');
  assert.equal(verdict(answer({ blocked: false, blocks: [], allowlisted: [] })), 'not blocked');
  assert.equal(verdict(answer(null)), 'block status unknown (this api runs without the block list)');
});

test('a detection\'s evidence: a list (samples, clients) one item a line, each made safe, at most 10 shown', () => {
  const clients = Array.from({ length: 12 }, (_, i) => `203.0.113.${i + 1}`);
  const lines = detectionLines({
    id: 'd', ts: Date.parse('2026-12-01T09:31:48Z'), ip: '203.0.113.12', client: '203.0.113.12', rule: 'account-attack', severity: 'high', mode: 'live', action: 'alert',
    score: 6, count: 6, threshold: 5, windowStart: Date.parse('2026-12-01T09:21:48Z'), windowEnd: Date.parse('2026-12-01T09:31:48Z'),
    evidence: { account: 'grace\u001b[2J', clients: clients.join('\n') }, blockExpiresAt: null, offence: 0,
  }, '  ');
  assert.deepEqual(lines.slice(3), ['    account: grace\uFFFD[2J', '    clients:', ...clients.slice(0, 10).map((c) => `      ${c}`), '      ... 2 more']);
});
