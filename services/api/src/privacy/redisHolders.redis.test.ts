/**
 * What Redis holds about a person, found and forgotten on the machine's Redis (127.0.0.1:6379):
 * rate-limit counters made by the emitter's own limiter, and alert-ledger entries written by the
 * alerter's own ledger. find() lists exactly the subject's keys (an address, the /64 of an IPv6
 * address, a user id and its login username), forget() deletes exactly those, others stay.
 * Addresses are random in 198.18.0.0/15 and 2001:db8::/32, and the limiter's keys live under a
 * prefix of this run's (inside ipwatch:rl:, which the holder scans), so parallel runs do not meet.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createRedisClient, type Redis } from '@ipwatch/core/redis';
import { parseSubject } from '@ipwatch/core/dataSubject';
import { createRateLimiter, type RateLimiter } from '@ipwatch/emitter';
import { createRedisLedger, type AlertLedger } from '@ipwatch/alerter';
import { redisUrl } from '../../../../test/support/components.ts';
import { redisAlertLedgerHolder, redisRateLimitHolder } from './redisHolders.ts';

const RUN = `t${process.pid}${randomBytes(3).toString('hex')}`;
/** Under the prefix every app's limiter uses by default, so the holder's SCAN finds them. */
const PREFIX = `ipwatch:rl:${RUN}:`;
const octet = () => randomInt(1, 255);
const IP = `198.18.${octet()}.${octet()}`;
/** In the same /24, another person. */
const NEIGHBOUR = IP.replace(/\.\d+$/, `.${(Number(IP.split('.')[3]) % 254) + 1}`);
const LOGIN_FROM = `198.19.${octet()}.${octet()}`;
const [G3, G4] = [randomInt(1, 0xfffe), randomInt(1, 0xfffe)];
const NET6 = `2001:db8:${G3.toString(16)}:${G4.toString(16)}`;
/** The /64 next to it. */
const NET6_OTHER = `2001:db8:${G3.toString(16)}:${(G4 ^ 1).toString(16)}`;
const IP6 = `${NET6}::7`;
const USER = `Alice-${RUN}`;
const DETECTION = `det-${RUN}`;
const OTHER_DETECTION = `det-${RUN}-other`;
const MINUTE = 60_000;

let redis: Redis;
let limiter: RateLimiter;
let ledger: AlertLedger;
/** Every key this test made, for the clean-up. */
const made = new Set<string>();

const req = (method: string, url: string, body?: unknown) => ({ method, url, headers: {}, ...(body !== undefined && { body }) }) as unknown as IncomingMessage;
const anon = (ip: string) => ({ ip, userId: null, authenticated: false });

async function keysLike(pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}
/** A client of the shared Redis, once it answers (commands are not queued before). */
async function connected(name: string): Promise<Redis> {
  const client = createRedisClient(redisUrl(), { name });
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}
const exists = async (keys: string[]) => Promise.all(keys.map(async (k) => (await redis.exists(k)) === 1));

beforeAll(async () => {
  redis = await connected('privacy-holders-test');
  limiter = createRateLimiter({ store: redisUrl(), keyPrefix: PREFIX });
  // As the apps count them: anonymous requests, a signed-in user's, a login naming a username, an IPv6 client's.
  for (const ip of [IP, NEIGHBOUR, IP6]) assert.equal((await limiter.check(req('GET', '/'), anon(ip))).limited, false);
  assert.equal((await limiter.check(req('GET', '/account'), { ip: LOGIN_FROM, userId: USER, authenticated: true })).limited, false);
  assert.equal((await limiter.check(req('POST', '/login', { username: USER }), anon(LOGIN_FROM))).limited, false);
  assert.equal(limiter.stats().store.fallbackChecks, 0, 'counted in Redis, not in the fallback');
  for (const k of await keysLike(`${PREFIX}*`)) made.add(k);

  // As the alerter records them: alerts sent about a detection and a block, quiet periods per rule and client.
  ledger = createRedisLedger(await connected('privacy-holders-test-ledger'));
  await ledger.done(`email:${DETECTION}`, 10 * MINUTE);
  await ledger.done(`slack:${OTHER_DETECTION}`, 10 * MINUTE);
  await ledger.done(`webhook:block:${IP}:${Date.now()}`, 10 * MINUTE);
  await ledger.done(`webhook:block:${NEIGHBOUR}:${Date.now()}`, 10 * MINUTE);
  assert.equal(await ledger.quiet(`burst|${IP}`, `alert-${RUN}`, 10 * MINUTE), true);
  assert.equal(await ledger.quiet(`burst|${NEIGHBOUR}`, `alert-${RUN}-n`, 10 * MINUTE), true);
  assert.equal(await ledger.quiet(`burst|${NET6}::/64`, `alert-${RUN}-6`, 10 * MINUTE), true);
  for (const pattern of [`ipwatch:alerts:sent:*${RUN}*`, `ipwatch:alerts:sent:*:block:${IP}:*`, `ipwatch:alerts:sent:*:block:${NEIGHBOUR}:*`, `ipwatch:alerts:quiet:burst|*`]) {
    for (const k of await keysLike(pattern)) if (k.includes(RUN) || k.includes(IP) || k.includes(NEIGHBOUR) || k.includes(NET6)) made.add(k);
  }
});

afterAll(async () => {
  if (made.size) await redis.del(...made);
  await limiter?.close();
  await ledger?.close();
  redis?.disconnect();
});

test('the limiter made the keys the holders look for', async () => {
  const mine = await keysLike(`${PREFIX}*`);
  assert.deepEqual(mine, [...mine].sort());
  for (const tail of [`:${IP}`, `:${NEIGHBOUR}`, `:${NET6}::/64`, `:user:${USER}`, `:login-user:${USER.toLowerCase()}`]) {
    assert.ok(mine.some((k) => k.endsWith(tail)), `a key ending ${tail} among ${mine.join(', ')}`);
  }
});

test('an address: its rate-limit counters and alert-ledger entries found, then forgotten, and no one else\'s', async () => {
  const subject = parseSubject({ ip: IP });
  const related = { detectionIds: [DETECTION] };
  const counters = redisRateLimitHolder(redis);
  const alerts = redisAlertLedgerHolder(redis);

  const counted = await counters.find(subject, related);
  const ownCounters = counted.filter((i) => i.name.startsWith(PREFIX));
  assert.ok(ownCounters.length > 0);
  assert.deepEqual(ownCounters.map((i) => i.name).sort(), [...made].filter((k) => k.startsWith(PREFIX) && k.endsWith(`:${IP}`)).sort());
  // Keys of other runs are the same address's only (a key of another client is never listed).
  assert.ok(counted.every((i) => i.name.endsWith(`:${IP}`)), counted.map((i) => i.name).join(', '));
  assert.ok(ownCounters.every((i) => i.kind === 'rate-limit counter' && i.expiresAt !== null && i.expiresAt > Date.now()), 'each with when it expires');

  const ledgered = (await alerts.find(subject, related)).map((i) => i.name).sort();
  assert.deepEqual(
    ledgered.filter((k) => k.includes(RUN) || k.includes(IP)),
    [...made].filter((k) => k.startsWith('ipwatch:alerts:') && (k.includes(`:${DETECTION}`) && !k.includes(OTHER_DETECTION) || k.includes(`:block:${IP}:`) || k.endsWith(`|${IP}`))).sort(),
  );
  assert.equal(ledgered.filter((k) => k.includes(RUN) || k.includes(IP)).length, 3, 'the alert sent about its detection, the alert of its block, its quiet period');

  const kept = [...made].filter((k) => k.includes(NEIGHBOUR) || k.includes(OTHER_DETECTION) || k.includes(NET6) || k.includes('user:'));
  assert.ok(kept.length >= 6);
  assert.ok((await exists(kept)).every(Boolean));

  assert.equal(await counters.forget(subject, related), counted.length);
  assert.ok((await alerts.forget(subject, related)) >= 3);
  assert.deepEqual(await counters.find(subject, related), []);
  assert.deepEqual(await alerts.find(subject, related), []);
  assert.ok((await exists(kept)).every(Boolean), 'the neighbour\'s, the user\'s, the IPv6 client\'s and the other detection\'s keys are all still there');
  // Forgetting again is nothing to do.
  assert.equal(await counters.forget(subject, related), 0);
});

test('a user: the counters of its user id and of its login username (any case)', async () => {
  const counters = redisRateLimitHolder(redis);
  const subject = parseSubject({ user: USER });
  const found = (await counters.find(subject, { detectionIds: [] })).map((i) => i.name).sort();
  assert.deepEqual(found, [...made].filter((k) => k.startsWith(PREFIX) && (k.endsWith(`:user:${USER}`) || k.endsWith(`:login-user:${USER.toLowerCase()}`))).sort());
  assert.equal(found.length, 2, found.join(', '));
  // The address it logged in from is another subject: its counters stay.
  const fromKeys = [...made].filter((k) => k.endsWith(`:${LOGIN_FROM}`));
  assert.ok(fromKeys.length > 0);
  assert.equal(await counters.forget(subject, { detectionIds: [] }), 2);
  assert.deepEqual(await exists(found), [false, false]);
  assert.ok((await exists(fromKeys)).every(Boolean));
});

test('an IPv6 address: the counters and quiet period of its /64, found from any address in it; another /64 not', async () => {
  const counters = redisRateLimitHolder(redis);
  const alerts = redisAlertLedgerHolder(redis);
  const sibling = parseSubject({ ip: `${NET6}::abcd` });
  const found = (await counters.find(sibling, { detectionIds: [] })).map((i) => i.name);
  assert.deepEqual(found, [`${PREFIX}anonymous:${NET6}::/64`].filter((k) => made.has(k)));
  assert.equal(found.length, 1, `the /64 counter under ${PREFIX}: ${[...made].join(', ')}`);
  const quiet = (await alerts.find(sibling, { detectionIds: [] })).map((i) => i.name);
  assert.deepEqual(quiet, [`ipwatch:alerts:quiet:burst|${NET6}::/64`]);
  const elsewhere = parseSubject({ ip: `${NET6_OTHER}::7` });
  assert.deepEqual(await counters.find(elsewhere, { detectionIds: [] }), []);
  assert.equal(await counters.forget(sibling, { detectionIds: [] }), 1);
  assert.equal(await alerts.forget(sibling, { detectionIds: [] }), 1);
  assert.equal(await redis.exists(`${PREFIX}anonymous:${NET6}::/64`), 0);
});
