/**
 * What Redis holds about a person (distributed mode): rate-limit counters (`ipwatch:rl:*`, keyed
 * by address, network, user id or username) and the alerter's ledger (`ipwatch:alerts:*`: which
 * alert went to which channel, keyed by detection id or `block:<target>:<time>`; quiet periods
 * keyed by rule and client). Found by SCAN, never KEYS: a big Redis keeps serving.
 */
import { once } from 'node:events';
import type { PersonalStateHolder, HeldItem, PrivacySubject } from '@ipwatch/core/dataSubject';
import { subjectCovers } from '@ipwatch/core/dataSubject';
import type { Redis } from '@ipwatch/core/redis';
import { limitKeyConcerns } from '@ipwatch/emitter';

const RATE_LIMIT_PREFIX = 'ipwatch:rl:';
const ALERTS_PREFIX = 'ipwatch:alerts:';

async function ready(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  await Promise.race([
    once(redis, 'ready'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('Redis did not answer within 5 s: check IPWATCH_REDIS_URL and that Redis is up')), 5000).unref()),
  ]);
}

async function scan(redis: Redis, pattern: string, concerns: (key: string) => boolean): Promise<string[]> {
  await ready(redis);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) if (concerns(k)) found.push(k);
  } while (cursor !== '0');
  return found;
}

async function describe(redis: Redis, keys: string[], kind: (key: string) => { kind: string; detail: string }): Promise<HeldItem[]> {
  const now = Date.now();
  const items: HeldItem[] = [];
  for (const key of keys) {
    const ttl = await redis.pttl(key);
    items.push({ name: key, expiresAt: ttl > 0 ? now + ttl : null, ...kind(key) });
  }
  return items;
}

async function forget(redis: Redis, keys: string[]): Promise<number> {
  let n = 0;
  for (let i = 0; i < keys.length; i += 500) n += await redis.del(...keys.slice(i, i + 500));
  return n;
}

/** Rate-limit counters of the subject (every app's, the dashboard's sign-in limit too). */
export function redisRateLimitHolder(redis: Redis): PersonalStateHolder {
  const keys = (s: PrivacySubject) => scan(redis, `${RATE_LIMIT_PREFIX}*`, (k) => limitKeyConcerns(k, s));
  return {
    place: 'Redis: rate-limit counters',
    async find(s) {
      return describe(redis, await keys(s), () => ({ kind: 'rate-limit counter', detail: 'the requests counted against a limit, per tenth of its window; gone when its window has passed' }));
    },
    async forget(s) {
      return forget(redis, await keys(s));
    },
  };
}

/** Whether an alerter ledger key is about the subject: a quiet period of its client, or an alert sent about it. */
function alertKeyConcerns(key: string, s: PrivacySubject, detectionIds: Set<string>): boolean {
  const rest = key.slice(ALERTS_PREFIX.length);
  if (rest.startsWith('quiet:')) {
    const client = rest.slice(rest.lastIndexOf('|') + 1);
    return subjectCovers(s, client);
  }
  if (rest.startsWith('sent:')) {
    const afterChannel = rest.slice(rest.indexOf(':', 5) + 1);
    if (detectionIds.has(afterChannel)) return true;
    if (afterChannel.startsWith('block:')) return subjectCovers(s, afterChannel.slice(6, afterChannel.lastIndexOf(':')));
  }
  return false;
}

/** The alerter's ledger entries about the subject: alerts sent (per channel) and quiet periods. */
export function redisAlertLedgerHolder(redis: Redis): PersonalStateHolder {
  const keys = (s: PrivacySubject, ids: string[]) => {
    const set = new Set(ids);
    return scan(redis, `${ALERTS_PREFIX}*`, (k) => alertKeyConcerns(k, s, set));
  };
  return {
    place: 'Redis: alerts sent',
    async find(s, related) {
      return describe(redis, await keys(s, related.detectionIds), (k) =>
        k.startsWith(`${ALERTS_PREFIX}quiet:`)
          ? { kind: 'alert quiet period', detail: 'no second alert about this client and rule until it ends' }
          : { kind: 'alert sent', detail: `an alert went out on channel ${k.slice(ALERTS_PREFIX.length + 5).split(':')[0]} (the message itself is in its recipients' mailboxes or receiver)` },
      );
    },
    async forget(s, related) {
      return forget(redis, await keys(s, related.detectionIds));
    },
  };
}
