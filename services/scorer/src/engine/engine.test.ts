import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, type Rule } from '@ipwatch/core/rules';
import { createDetectionEngine, type Candidate, type ScoredRequest } from './engine.ts';

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

function req(ip: string, ts: number, path: string, status = 200, extra: Partial<ScoredRequest> = {}): ScoredRequest {
  return { ts, ip, ipAnonymisation: 'off', method: 'GET', path, status, userAgent: BROWSER, blocked: false, ...extra };
}

function run(engine: ReturnType<typeof createDetectionEngine>, requests: ScoredRequest[]): Candidate[] {
  return requests.flatMap((r) => [...engine.observe(r)]);
}

const rules = (patch: Record<string, Partial<Rule>> = {}) => DEFAULT_RULES.map((r) => ({ ...r, ...patch[r.id] }));

test('a scanner probing sensitive files is detected at the second probe, blocked for 1h, with evidence', () => {
  const engine = createDetectionEngine({ rules: rules() });
  const found = run(engine, [req('198.51.100.7', T0, '/'), req('198.51.100.7', T0 + 1000, '/.env', 404), req('198.51.100.7', T0 + 2000, '/.git/config', 404)]);
  assert.equal(found.length, 1);
  const d = found[0]!.detection;
  assert.equal(d.rule, 'sensitive-files');
  assert.equal(d.severity, 'high');
  assert.equal(d.action, 'block');
  assert.equal(d.client, '198.51.100.7');
  assert.equal(d.offence, 1);
  assert.equal(d.blockExpiresAt, T0 + 2000 + 3_600_000);
  assert.match(d.evidence.samples ?? '', /\/\.env -> 404/);
  assert.match(d.evidence.summary ?? '', /matching requests: 2 in 10m \(more than 1\)/);
  // Quiet: more probes within the window do not detect again.
  assert.equal(run(engine, [req('198.51.100.7', T0 + 3000, '/.aws/credentials', 404), req('198.51.100.7', T0 + 4000, '/.env.bak', 404)]).filter((c) => c.detection.rule === 'sensitive-files').length, 0);
  // After the quiet period, a second offence escalates to 4h.
  const later = T0 + 20 * 60_000;
  const again = run(engine, [req('198.51.100.7', later, '/.env', 404), req('198.51.100.7', later + 1000, '/.git/HEAD', 404)]);
  assert.equal(again.length, 1);
  assert.equal(again[0]!.detection.offence, 2);
  assert.equal(again[0]!.detection.blockExpiresAt, later + 1000 + 4 * 3_600_000);
});

test('an image-heavy reader and many ordinary visitors are not detected; a flooder is', () => {
  const engine = createDetectionEngine({ rules: rules() });
  const reader: ScoredRequest[] = [];
  // 30 pages in 10 minutes, each with 40 images, scripts and styles.
  for (let p = 0; p < 30; p++) {
    const t = T0 + p * 20_000;
    reader.push(req('203.0.113.5', t, `/gallery/${p}`));
    for (let i = 0; i < 40; i++) reader.push(req('203.0.113.5', t + 10 + i, `/img/${p}-${i}.jpg`));
  }
  const visitors: ScoredRequest[] = [];
  for (let v = 0; v < 500; v++) for (let p = 0; p < 8; p++) visitors.push(req(`192.0.2.${v % 250}`.replace(/^192/, v < 250 ? '192' : '100'), T0 + v * 100 + p * 7000, `/page/${p}`, p === 7 ? 404 : 200));
  assert.deepEqual(run(engine, [...reader, ...visitors]).map((c) => `${c.detection.rule} ${c.detection.client}`), []);
  const flood: ScoredRequest[] = [];
  for (let i = 0; i < 80; i++) flood.push(req('198.51.100.9', T0 + i * 100, `/search?q=${i}`));
  const found = run(engine, flood);
  assert.deepEqual(found.map((c) => c.detection.rule), ['burst']);
  assert.equal(found[0]!.detection.count, 51);
});

test('errors, credential stuffing, login guessing and scanner agents each find their rule', () => {
  const engine = createDetectionEngine({ rules: rules() });
  const errors = Array.from({ length: 30 }, (_, i) => req('198.51.100.20', T0 + i * 60_000, `/item/${i % 3}`, i % 4 === 0 ? 200 : 500));
  assert.deepEqual([...new Set(run(engine, errors).map((c) => c.detection.rule))], ['error-ratio']);
  const stuffing = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'].map((u, i) => req('198.51.100.21', T0 + i * 1000, '/login', 401, { method: 'POST', login: 'failed', loginUser: u }));
  const s = run(engine, stuffing);
  assert.deepEqual(s.map((c) => c.detection.rule), ['credential-stuffing']);
  assert.match(s[0]!.detection.evidence.usernames ?? '', /ann\nbob/);
  const guessing = Array.from({ length: 12 }, (_, i) => req('198.51.100.22', T0 + i * 1000, '/login', 401, { method: 'POST', login: 'failed', loginUser: 'admin' }));
  assert.deepEqual(run(engine, guessing).map((c) => c.detection.rule), ['login-failures']);
  const scanner = run(engine, [req('198.51.100.23', T0, '/', 200, { userAgent: 'sqlmap/1.7.2#stable (https://sqlmap.org)' })]);
  assert.deepEqual(scanner.map((c) => c.detection.rule), ['scanner-user-agent']);
  const injection = run(engine, [req('198.51.100.24', T0, '/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--', 500), req('198.51.100.24', T0 + 10, '/file?name=..%2f..%2fetc%2fpasswd', 400)]);
  assert.deepEqual(injection.map((c) => c.detection.rule), ['injection']);
});

test('IPv6 addresses rotating inside one /64 are one client; the detection names the network', () => {
  const engine = createDetectionEngine({ rules: rules() });
  const probes = Array.from({ length: 25 }, (_, i) => req(`2001:db8:aa:bb::${(i + 1).toString(16)}`, T0 + i * 1000, `/guess-${i}`, 404));
  const found = run(engine, probes);
  // Every probe answered 404: the error share is detected too.
  assert.deepEqual(found.map((c) => c.detection.rule).sort(), ['error-ratio', 'path-scan']);
  const scan = found.find((c) => c.detection.rule === 'path-scan')!.detection;
  assert.equal(scan.client, '2001:db8:aa:bb::/64');
  assert.equal(scan.evidence.scoredAs, 'network 2001:db8:aa:bb::/64');
  assert.equal(scan.action, 'block');
  // A hashed identity is never grouped: each pseudonym is its own client.
  assert.equal(engine.clientOf({ ip: '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901', ipAnonymisation: 'hash' }), '2001:db8:5f3a:9c2e:11d4:7b80:2e6f:a901');
});

test('a dry-run rule records without blocking; a remembered detection is not made again; a threshold change keeps the counts', () => {
  const engine = createDetectionEngine({ rules: rules({ 'sensitive-files': { mode: 'dry_run' } }) });
  const found = run(engine, [req('198.51.100.30', T0, '/.env', 404), req('198.51.100.30', T0 + 1, '/.git/config', 404)]);
  assert.equal(found[0]!.detection.action, 'none');
  assert.equal(found[0]!.detection.mode, 'dry_run');

  const restarted = createDetectionEngine({ rules: rules() });
  restarted.remember(found[0]!.detection);
  assert.equal(run(restarted, [req('198.51.100.30', T0 + 5, '/.env', 404), req('198.51.100.30', T0 + 6, '/.git/config', 404)]).length, 0);

  const tuned = createDetectionEngine({ rules: rules({ 'sensitive-files': { threshold: 3 } }) });
  assert.equal(run(tuned, [req('198.51.100.31', T0, '/.env', 404), req('198.51.100.31', T0 + 1, '/.git/config', 404)]).length, 0);
  tuned.setRules(rules({ 'sensitive-files': { threshold: 1 } }));
  assert.deepEqual(run(tuned, [req('198.51.100.31', T0 + 2, '/.env.local', 404)]).map((c) => c.detection.rule), ['sensitive-files']);
  tuned.setRules(rules({ 'sensitive-files': { enabled: false } }));
  assert.equal(tuned.rules().some((r) => r.id === 'sensitive-files'), false);
});

test('requests the block mirror answered are not scored; the table evicts idle clients', () => {
  const engine = createDetectionEngine({ rules: rules(), maxClients: 100 });
  assert.equal(run(engine, [req('198.51.100.40', T0, '/.env', 403, { blocked: true }), req('198.51.100.40', T0 + 1, '/.env', 403, { blocked: true })]).length, 0);
  for (let i = 0; i < 250; i++) engine.observe(req(`10.0.${i >> 8}.${i & 255}`, T0 + i, '/'));
  assert.ok(engine.stats().clients <= 100);
  assert.ok(engine.stats().evictedForCap > 0);
  engine.observe(req('10.9.9.9', T0 + 5 * 3_600_000, '/'));
  assert.equal(engine.stats().clients, 1, 'clients idle for twice the longest window are gone');
});

test('one account attacked from many clients: account-attack fires at the 6th failure once 3 clients took part, names the account and its clients; each client stays under login-failures', () => {
  const engine = createDetectionEngine({ rules: rules() });
  const login = (ip: string, ts: number, user: string) => req(ip, ts, '/login', 401, { method: 'POST', login: 'failed', loginUser: user });
  const both = (r: ScoredRequest) => [...engine.observe(r), ...engine.observeLogin(r)];
  // Two clients alone fail 5 times on "Alice": no account detection (too few clients, not more than 5).
  // Forms of one name are one account: case, spaces, fullwidth letters, an invisible joiner.
  const early = [login('198.51.100.20', T0, 'Alice'), login('198.51.100.20', T0 + 1000, 'ａｌｉｃｅ'), login('198.51.100.21', T0 + 2000, 'ali\u200bce'), login('198.51.100.21', T0 + 3000, 'ALICE '), login('198.51.100.20', T0 + 4000, 'alice')];
  assert.deepEqual(early.flatMap(both), []);
  // A third client's failure is the 6th: detected as the account, not as the client.
  const found = both(login('2001:db8:5:6::9', T0 + 5000, 'alice'));
  assert.deepEqual(found.map((c) => c.detection.rule), ['account-attack']);
  const d = found[0]!.detection;
  assert.equal(d.severity, 'high');
  assert.equal(d.action, 'alert');
  assert.equal(d.client, '2001:db8:5:6::/64');
  assert.equal(d.count, 6);
  assert.equal(d.evidence.account, 'alice');
  assert.deepEqual(d.evidence.clients?.split('\n'), ['198.51.100.20', '198.51.100.21', '2001:db8:5:6::/64']);
  assert.match(d.evidence.summary ?? '', /^failed logins for one username \(from 3 clients\): 6 in 10m \(more than 5\)$/);
  assert.match(d.evidence.samples ?? '', /198\.51\.100\.21 POST \/login -> 401/);
  // Flag-only: one detection per account for the quiet period, whoever fails next.
  assert.deepEqual([login('198.51.100.22', T0 + 6000, 'alice'), login('198.51.100.23', T0 + 7000, 'alice')].flatMap(both), []);
  // Another account is its own count; a success or a login without a username counts nowhere.
  assert.deepEqual([req('198.51.100.24', T0 + 8000, '/login', 200, { method: 'POST', login: 'succeeded', loginUser: 'bob' }), login('198.51.100.24', T0 + 8000, '')].flatMap(both), []);
});

test('an account rule set to block detects every client taking part once, each blocked; remembered after a restart', () => {
  const blocking = rules({ 'account-attack': { autoBlock: true, escalation: [3_600_000] } });
  const engine = createDetectionEngine({ rules: blocking });
  const login = (ip: string, ts: number) => req(ip, ts, '/login', 401, { method: 'POST', login: 'failed', loginUser: 'carol' });
  const seen: Candidate[] = [];
  for (let i = 0; i < 9; i++) seen.push(...engine.observeLogin(login(`203.0.113.${30 + i}`, T0 + i * 1000)));
  assert.deepEqual(seen.map((c) => c.detection.client), ['203.0.113.35', '203.0.113.36', '203.0.113.37', '203.0.113.38']);
  assert.ok(seen.every((c) => c.detection.action === 'block' && c.detection.evidence.account === 'carol'));
  // The same client failing again is in its quiet period.
  assert.equal(engine.observeLogin(login('203.0.113.38', T0 + 9500)).length, 0);
  // A new engine that remembers the detections does not detect those clients again.
  const restarted = createDetectionEngine({ rules: blocking });
  for (const c of seen) restarted.remember(c.detection);
  const after: Candidate[] = [];
  for (let i = 0; i < 10; i++) after.push(...restarted.observeLogin(login(`203.0.113.${30 + i}`, T0 + 10_000 + i * 100)));
  // Over the threshold again from the 6th failure on, but only the client not detected before is new.
  assert.deepEqual(after.map((c) => c.detection.client), ['203.0.113.39']);
});

test('late events (a network\'s addresses merged from several partitions) count in the window they belong to, never for more', () => {
  const engine = createDetectionEngine({ rules: rules() });
  // A 10 s bucket starts at B. 40 page requests early in the bucket before it, 12 just after B:
  // on time, the sliding estimate at B+1 s is 40 * 0.9 + 12 = 48, not more than 50.
  const B = Math.ceil(T0 / 10_000) * 10_000 + 10_000;
  const early = Array.from({ length: 40 }, (_, i) => req(`2001:db8:7:7::${(i % 4) + 1}`, B - 9500 + i * 10, `/p/${i}`));
  const after = Array.from({ length: 12 }, (_, i) => req(`2001:db8:7:7::${(i % 4) + 1}`, B + 500 + i * 40, `/q/${i}`));
  assert.deepEqual(run(createDetectionEngine({ rules: rules() }), [...early, ...after]).map((c) => c.detection.rule), [], 'on time: no burst');
  // The same requests with the early ones arriving late: still no burst (they were counted into the newer bucket before).
  assert.deepEqual(run(engine, [...after, ...early]).map((c) => c.detection.rule), []);
  // Events older than burst's previous bucket are not counted by it at all (the hour's window counts them: 112 pages).
  assert.deepEqual(run(engine, Array.from({ length: 60 }, (_, i) => req('2001:db8:7:7::9', B - 25_000 + i, `/r/${i}`))).map((c) => c.detection.rule), ['hourly-volume']);
});
