/**
 * A replay of a combined-format access log finds what the same traffic found live (issue 9).
 *
 * Live: attacks and ordinary visits as real HTTP requests through the distributed rig (the app
 * with the emitter -> Kafka -> enricher -> scorer -> blocks -> blocksync -> Redis -> the app's
 * block mirror). Then the request events the app emitted are written as the combined log its
 * web server would have written, and replayed by the real `ipwatch replay --format combined`,
 * embedded (in-process event log, chDB in a directory of its own), whose detections are read
 * from its `detections` table. The two are compared as sets of (client, rule, severity,
 * action), with the figures that must agree.
 *
 * Left out, by design, because a combined line cannot carry them:
 * - logins (login-failures, credential-stuffing): the app reports a failed login and its
 *   username on the event; a log line has a POST and a 401, which is no login to the rules;
 * - crawler verification: it asks DNS about the client, and the rig answers from a loopback
 *   server a replay does not use.
 * Requests the block mirror refused are kept: each blocked attacker knocks again until refused,
 * and the web server logged those 403s. The live scorer skips a refused request (its event says
 * blocked); the replay cannot know ipwatch refused it and scores a 403 like any. Attacks that
 * stop soon after their block, as these do, give too few of them to cross another threshold.
 */
import { describe, beforeAll, afterAll, test, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RULES } from '@ipwatch/core/rules';
import type { EnrichedRequest } from '@ipwatch/core/schemas';
import { openAnalytics } from '@ipwatch/store';
import { parseCombinedLine } from '../services/cli/src/replay/combinedLog.ts';
import { addressPlan, browse, eventually, flood, hit, mostlyErrors, scan, SENSITIVE_PATHS, SQLMAP_UA } from './support/attackTraffic.ts';
import { startDetectionRig, type DetectionRig } from './support/detectionRig.ts';
import { runCli, tempDir } from './support/cli.ts';
import { combinedLine } from './support/combinedLog.ts';

const NIKTO_UA = 'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)';
/** Two requests carrying injections (the rule fires on more than one): SQL in a query, a script in a path. */
const INJECTIONS = ["/article/1?id=1' OR '1'='1", '/search/<script>alert(1)</script>'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What must be the same either way; count and threshold are compared apart (a sliding count may differ by design). */
interface Found {
  client: string;
  rule: string;
  severity: string;
  action: string;
  mode: string;
  count: number;
  threshold: number;
}
const key = (d: Found) => `${d.client} ${d.rule} ${d.severity} ${d.action}`;
const found = (d: Pick<Found, keyof Found>): Found => ({ client: d.client, rule: d.rule, severity: d.severity, action: d.action, mode: d.mode, count: Number(d.count), threshold: Number(d.threshold) });

describe('replay parity: a combined log of live traffic replayed gives the live detections (Kafka, Redis, chDB)', () => {
  jest.setTimeout(90_000);
  const plan = addressPlan();
  let rig: DetectionRig;

  beforeAll(async () => {
    rig = await startDetectionRig();
    // The replay's scorer runs the rules as shipped: so must the live one. Whatever another file
    // left on the shared rules topic (a changed default, a rule of its own) goes.
    const ids = new Set([...DEFAULT_RULES.map((r) => r.id), ...rig.scorer().scorer.engine.rules().map((r) => r.id)]);
    await rig.resetRules(...ids);
  });

  afterAll(async () => {
    await rig?.close();
  });

  test('the same clients are detected by the same rules, with the same severities, actions and figures; ordinary visitors by none', async () => {
    const scanner = plan.v4();
    const flooder = plan.v4();
    const failing = plan.v4();
    const nikto = plan.v4();
    const injector = plan.v4();
    const v6 = plan.v6Net();
    const rotating = [v6.addr(1), v6.addr(2), v6.addr(3), v6.addr(4)];
    const visitors = Array.from({ length: 6 }, () => plan.v4());

    // Timing: combined times have whole seconds. The rules' windows are fixed buckets of whole
    // seconds (10 s, 5 m, 10 m, 1 h) on the events' own time, so cutting a time to its second
    // never moves a request to another bucket; it only makes the previous bucket's share a hair
    // larger. Every attack crosses its threshold with margin against that (60 pages against 50
    // in well under 10 s; 16 failures of 24 against half), or counts requests one by one
    // (sensitive files, injections, user agents), and no client's traffic lasts long enough to
    // meet a second window of a rule.
    const sent = await Promise.all([
      scan(rig.port, scanner, SENSITIVE_PATHS.slice(0, 3)),
      flood(rig.port, flooder, 60),
      mostlyErrors(rig.port, failing, 24, 16),
      scan(rig.port, nikto, ['/', '/admin/'], NIKTO_UA),
      scan(rig.port, injector, ['/', ...INJECTIONS]),
      scan(rig.port, rotating, SENSITIVE_PATHS.slice(0, 4)),
      ...visitors.map((ip) => browse(rig.port, ip, 3)),
    ]);
    assert.ok(sent.slice(6).flat().every((s) => s === 200), 'the visitors were served');

    const addresses = new Set([scanner, flooder, failing, nikto, injector, ...rotating, ...visitors]);
    const clients = new Set([scanner, flooder, failing, nikto, injector, v6.net, ...visitors]);
    // What each attack is for: seen live first (a clear failure if the rig itself misses one).
    const expected: Array<[string, string]> = [
      [scanner, 'sensitive-files'], [flooder, 'burst'], [failing, 'error-ratio'], [nikto, 'scanner-user-agent'], [injector, 'injection'], [v6.net, 'sensitive-files'],
    ];
    for (const [client, rule] of expected) await rig.detection((d) => d.client === client && d.rule === rule);
    // The blocked ones knock again until refused, as attackers do: the server logs those 403s too.
    const blocked = [scanner, flooder, nikto, injector, rotating[0]!];
    const knocks = await Promise.all(blocked.map((ip) => knockUntilRefused(rig.port, ip)));
    const requests = sent.reduce((n, s) => n + s.length, 0) + knocks.reduce((n, k) => n + k, 0);

    // Everything scored: the enricher passed every request on, and the scorer judged them all.
    // A client's requests are judged in order on their partition, but a blocked client's last
    // requests are refused and never judged, so it cannot end with a request that proves the
    // scorer got there. Twelve other addresses each send a request scanner-user-agent detects:
    // they cover both partitions (all on one: 1 in 2048), and once their detections are out,
    // anything earlier on the partitions was published before them.
    const mine = () => rig.enriched.items.filter((r) => addresses.has(r.ip));
    await eventually(`the enricher passes on all ${requests} requests`, () => mine().length >= requests, 15_000);
    const sentinels = Array.from({ length: 12 }, () => plan.v4());
    await Promise.all(sentinels.map((ip) => hit(rig.port, '/', { ip, userAgent: SQLMAP_UA })));
    for (const ip of sentinels) await rig.detection((d) => d.client === ip && d.rule === 'scanner-user-agent');
    // Published before is not yet read from the other detections partition: wait for a quiet second.
    const liveNow = () => rig.detections.items.filter((d) => clients.has(d.client));
    let seen: number;
    do {
      seen = liveNow().length;
      await sleep(1000);
    } while (liveNow().length !== seen);
    const live = liveNow().map(found);

    // The log, as the web server would have written it: in time order, one line per request.
    const events = mine().sort((a, b) => a.ts - b.ts);
    assert.equal(events.length, requests, 'one event per request sent');
    for (const ip of blocked) assert.ok(events.some((e) => e.ip === ip && e.blocked && e.status === 403), `${ip} was refused`);
    const lines = events.map(combinedLine);
    // The log says what the app saw (to the second): a difference here is the log's, not the replay's.
    lines.forEach((line, i) => assertLineSays(line, events[i]!));
    const dir = tempDir('ipwatch-replay-parity');
    writeFileSync(join(dir, 'access.log'), `${lines.join('\n')}\n`);

    const replay = await runCli(['replay', 'access.log', '--format', 'combined'], { IPWATCH_API_PORT: '1', IPWATCH_METRICS_PORT: '0' }, dir);
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout.trim().split('\n').pop()!), { lines: lines.length, replayed: lines.length, skipped: 0, expired: 0, stored: lines.length });
    const replayed = (await storedDetections(join(dir, '.ipwatch'))).filter((d) => clients.has(d.client));

    // The same set of (client, rule, severity, action), shown as a diff when not.
    const liveKeys = live.map(key).sort();
    const replayKeys = replayed.map(key).sort();
    const why = `live only: ${JSON.stringify(liveKeys.filter((k) => !replayKeys.includes(k)))}\nreplay only: ${JSON.stringify(replayKeys.filter((k) => !liveKeys.includes(k)))}`;
    assert.deepEqual(replayKeys, liveKeys, why);
    assert.equal(new Set(liveKeys).size, liveKeys.length, 'no detection twice');
    for (const [client, rule] of expected) assert.ok(liveKeys.some((k) => k.startsWith(`${client} ${rule} `)), `${client} ${rule}`);
    for (const ip of visitors) assert.ok(!liveKeys.some((k) => k.startsWith(`${ip} `)), `visitor ${ip} not detected`);

    // The figures: the same threshold and mode; the same count, but for burst, whose count is a
    // sliding estimate over the requests' times (milliseconds live, seconds in the log): over
    // its threshold, at most the flood, both ways.
    for (const l of live) {
      const r = replayed.find((x) => key(x) === key(l))!;
      assert.equal(r.mode, l.mode, key(l));
      assert.equal(r.threshold, l.threshold, key(l));
      if (l.rule === 'burst') assert.ok([l.count, r.count].every((c) => c > 50 && c <= 60), `${key(l)}: live ${l.count}, replay ${r.count}`);
      else assert.equal(r.count, l.count, key(l));
    }
  });
});

/** Asks for a page as `ip` every 200 ms (too slow for burst) until the app refuses it; the requests it took. */
async function knockUntilRefused(port: number, ip: string): Promise<number> {
  for (let n = 1; n <= 25; n++) {
    if ((await hit(port, '/article/1', { ip })) === 403) return n;
    await sleep(200);
  }
  throw new Error(`the app still serves ${ip} 5 s after its detection`);
}

/** The line reads back as the event, its time cut to the second. */
function assertLineSays(line: string, e: EnrichedRequest['request']): void {
  const parsed = parseCombinedLine(line, { app: 'parity' });
  assert.ok(parsed.ok, line);
  const r = parsed.event;
  assert.deepEqual(
    [r.ts, r.ip, r.method, r.path, r.status, r.bytes, r.referer, r.userAgent],
    [Math.floor(e.ts / 1000) * 1000, e.ip, e.method, e.path, e.status, e.bytes, e.referer, e.userAgent],
    line,
  );
}

/** The detections the replay stored, read from its chDB store once the command has exited. */
async function storedDetections(dataDir: string): Promise<Found[]> {
  const analytics = await openAnalytics({ clickhouse: null, dataDir });
  try {
    const rows = await (
      await analytics.client.query({ query: 'SELECT client, rule, severity, action, mode, count, threshold FROM detections', format: 'JSONEachRow' })
    ).json<Found>();
    return rows.map(found);
  } finally {
    await analytics.close();
  }
}
