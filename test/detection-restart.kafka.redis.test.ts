/**
 * A scorer restarted mid-attack, on real components (detectionRig.ts: an Express app with the
 * emitter -> Kafka -> enricher -> scorer -> blocks -> blocksync -> Redis -> the app's mirror):
 * the same consumer group comes back, reads back its recent detections and re-reads the
 * last minutes of requests into its windows (the warm-up), so it neither repeats a detection
 * nor forgets an attack halfway to a threshold.
 */
import { describe, beforeAll, afterAll, test, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { addressPlan, eventually, failLogins, hit, mostlyErrors, scan, SENSITIVE_PATHS, SQLMAP_UA } from './support/attackTraffic.ts';
import { startDetectionRig, type DetectionRig } from './support/detectionRig.ts';

const plan = addressPlan();

describe('a scorer restarted mid-attack', () => {
  jest.setTimeout(60_000);
  let rig: DetectionRig;

  const of = (client: string, rule: string) => rig.detections.items.filter((d) => d.client === client && d.rule === rule);
  const enrichedOf = (ip: string) => rig.enriched.items.filter((r) => r.ip === ip);
  /** Ends a client's traffic with a request scanner-user-agent detects: after it, the scorer has judged its earlier requests. */
  const settled = async (ip: string) => {
    await hit(rig.port, '/', { ip, userAgent: SQLMAP_UA });
    await rig.detection((d) => d.client === ip && d.rule === 'scanner-user-agent');
  };

  beforeAll(async () => {
    rig = await startDetectionRig({ warmupMinutes: 15 });
    await rig.resetRules('sensitive-files', 'burst', 'login-failures', 'error-ratio', 'scanner-user-agent');
  });

  afterAll(async () => {
    await rig?.close();
  });

  test('does not publish a detection again, and counts what it counted before', async () => {
    const flagged = plan.v4();
    const scanner = plan.v4();
    const guesser = plan.v4();

    // Before: a flag, a block, and six failed logins of the eleven login-failures needs.
    await mostlyErrors(rig.port, flagged, 24, 16, 20);
    await scan(rig.port, scanner, SENSITIVE_PATHS.slice(0, 2));
    assert.deepEqual(await failLogins(rig.port, guesser, ['root'], 6), Array(6).fill(401));
    const flag = await rig.detection((d) => d.client === flagged && d.rule === 'error-ratio');
    assert.equal(flag.action, 'alert');
    await rig.detection((d) => d.client === scanner && d.rule === 'sensitive-files');
    await rig.refused(scanner);
    await eventually('the six failed logins enriched', () => enrichedOf(guesser).filter((r) => r.login === 'failed').length === 6);

    await rig.stopScorer();
    const restarted = await rig.startScorer();
    const status = restarted.scorer.status();
    assert.ok(status.warmedUp && status.remembered >= 2, JSON.stringify(status));
    assert.ok(status.warmedRequests >= 24 + 2 + 6, JSON.stringify(status));

    // After: the flagged client keeps failing; its error share is still over half, but it was
    // flagged already (the quiet period is the rule's window, an hour).
    const more = await mostlyErrors(rig.port, flagged, 6, 5, 20);
    assert.equal(more.filter((s) => s === 500).length, 5);
    // Six more failed logins, too few alone: with the six before the restart, more than 10. (The
    // eleventh crosses; the twelfth when the attack straddles the start of a 10-minute bucket,
    // where the sliding estimate of eleven is a hair under.)
    assert.deepEqual((await failLogins(rig.port, guesser, ['root'], 6)).slice(0, 5), Array(5).fill(401));
    const login = await rig.detection((d) => d.client === guesser && d.rule === 'login-failures');
    assert.ok(login.count === 11 || login.count === 12, `count ${login.count}: the six before the restart were counted`);
    assert.equal(login.action, 'block');
    assert.equal(login.evidence.usernames, 'root');
    await rig.refused(guesser);

    // Sentinels on (almost surely) every partition: once theirs are out, anything re-read was judged.
    const sentinels = Array.from({ length: 8 }, () => plan.v4());
    await Promise.all([flagged, ...sentinels].map(settled));
    assert.equal(of(flagged, 'error-ratio').length, 1, 'the flag is not repeated');
    assert.equal(of(scanner, 'sensitive-files').length, 1, 'the block is not repeated');
    assert.equal(of(guesser, 'login-failures').length, 1);
    // The attack's own clients: nothing of theirs published twice. (Other traffic judged in a
    // batch that was in flight while the group changed hands can be published twice, with the
    // same id: delivery is at least once, and the ids let a reader drop the repeat.)
    const mine = rig.detections.items.filter((d) => [flagged, scanner, guesser].includes(d.client));
    const ids = mine.map((d) => d.id);
    assert.equal(new Set(ids).size, ids.length, `no detection of the attack published twice: ${mine.map((d) => `${d.rule} ${d.client} ${d.ts}`).join('; ')}`);
    assert.equal(rig.blocks.items.filter((b) => b.key === scanner).length, 1, 'one block for the scanner');
  });

  test('an attack made while the scorer was down is detected when it comes back', async () => {
    const ip = plan.v4();
    await rig.stopScorer();
    try {
      assert.deepEqual(await scan(rig.port, ip, SENSITIVE_PATHS.slice(0, 3)), [404, 404, 404]);
      await eventually('the scan enriched', () => enrichedOf(ip).length === 3);
    } finally {
      await rig.startScorer();
    }
    const d = await rig.detection((x) => x.client === ip && x.rule === 'sensitive-files', 10_000);
    assert.equal(d.action, 'block');
    await rig.refused(ip);
  });
});
